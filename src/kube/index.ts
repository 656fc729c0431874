/** The client side of the Kubernetes API: a REST client from a kubeconfig and list/watch informers. */
export {
  type ClientConfig,
  isConflict,
  isGone,
  isNotFound,
  KubeApiError,
  KubeClient,
  type ListOptions,
  loadKubeconfig,
  type ObjectList,
  type ResourceRef,
  resourcePath,
  type WatchEvent,
  type WatchHandle,
  type WatchOptions,
} from './client.js';
export { Informer, type InformerHandlers, type InformerOptions, objectKey } from './informer.js';
export { RESOURCE_REFS } from './resources.js';
