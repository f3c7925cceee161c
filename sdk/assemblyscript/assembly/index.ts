// @crossroads/plugin-sdk: write Crossroads plugins (sdk/ABI.md) in AssemblyScript.
// A plugin's entry file re-exports the ABI functions:
//   export { plugin_abi_v1, plugin_alloc, plugin_free } from "@crossroads/plugin-sdk";
export { plugin_abi_v1, plugin_alloc, plugin_free, pack, UNCHANGED, Level, log, crossroadsAbort } from "./abi";
export { Kind, Value, Members, Elements, Writer, parseNumber } from "./json";
export { Circuit, Candidate, RouteRequest, RouteInput, readRoute, order } from "./route";
export {
  info, error, readBody, Event, StreamInput, readStream, streamOutput,
  FormatRequest, readFormatRequest, HttpRequest, FormatResponse, readFormatResponse,
  FormatStream, readFormatStream, StreamChunks, FormatError, readFormatError, errorOutput,
} from "./hooks";
