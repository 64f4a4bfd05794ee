// text-decoder-stream.js: `TextDecoderStream` for StarlingMonkey, which has `TextDecoder` and
// `TransformStream` but not this web API. The MCP SDK decodes server-sent events with
// `body.pipeThrough(new TextDecoderStream())`; without it every reply sent as an event stream
// fails, and the request waits for its timeout. Import this module before using such a library.

if (typeof globalThis.TextDecoderStream === "undefined") {
  globalThis.TextDecoderStream = class TextDecoderStream {
    constructor(label = "utf-8", options = {}) {
      const decoder = new TextDecoder(label, options);
      // `stream: true` keeps a character split between two chunks for the next one.
      const stream = new TransformStream({
        transform(chunk, controller) {
          const text = decoder.decode(chunk, { stream: true });
          if (text !== "") controller.enqueue(text);
        },
        flush(controller) {
          const text = decoder.decode();
          if (text !== "") controller.enqueue(text);
        },
      });
      // A `{readable, writable}` pair is all `pipeThrough` asks of a transform.
      this.readable = stream.readable;
      this.writable = stream.writable;
      this.encoding = decoder.encoding;
      this.fatal = decoder.fatal;
      this.ignoreBOM = decoder.ignoreBOM;
    }
  };
}
