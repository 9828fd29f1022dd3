export { DecodeError, EncodeError } from "./errors.ts";
export { DEFAULT_MAX_FRAME_BYTES, HEADER_BYTES, MessageType, PROTOCOL_VERSION, messageTypeName, type Frame } from "./frame.ts";
export { FrameDecoder, type FrameDecoderOptions } from "./decoder.ts";
export { FrameWriter, stringSize, utf8Length } from "./writer.ts";
export { BodyReader } from "./reader.ts";
export { varuintSize } from "./varuint.ts";
export * from "./digest.ts";
export * from "./messages.ts";
export { MAX_NODE_NAME_LENGTH, NODE_NAME_PATTERN, NODE_NAME_RULE, isValidNodeName, nodeNameProblem, printableName } from "./node-name.ts";
