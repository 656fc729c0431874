/** The local image catalog and the built-in image programs' logic. */
export {
  BUILTIN_IMAGES,
  type BuiltinImage,
  defaultProgramDir,
  type ImageRef,
  type ImageResolution,
  parseImageRef,
  resolveImage,
} from './catalog.js';
