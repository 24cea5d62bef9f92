//! The MCP wire, beneath everything that serves it: JSON-RPC envelopes and error codes
//! ([`jsonrpc`]), the protocol revisions ([`version`]), and a tool's entry as each revision
//! lists it ([`tool_entry`]). Nothing here knows about snapshots, limits or backends.

pub mod jsonrpc;
pub mod tool_entry;
pub mod version;
