//! Outbound connections to addresses a tenant chose (a data plane's upstream calls, a control
//! plane's fetch of OAuth client metadata): every address judged by one network policy after
//! resolution and before any packet leaves.

pub mod connect;
pub mod policy;
