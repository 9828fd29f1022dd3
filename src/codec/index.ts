export { DecodeError, EncodeError } from "./errors.ts";
export { DEFAULT_MAX_FRAME_BYTES, HEADER_BYTES, MessageType, PROTOCOL_VERSION, messageTypeName, type Frame } from "./frame.ts";
export { FrameDecoder, type FrameDecoderOptions } from "./decoder.ts";
export { FrameWriter, stringSize, utf8Length } from "./writer.ts";
export { BodyReader } from "./reader.ts";
export { varuintSize } from "./varuint.ts";
export * from "./digest.ts";
export * from "./messages.ts";
export * from "./handshake.ts";
