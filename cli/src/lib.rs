//! The `trailwarden` CLI as a library: template reading and routing (also used by the
//! workspace tests), and the dispatch of events to the functions' own logic.
#![forbid(unsafe_code)]

pub mod functions;
pub mod rules;
pub mod template;
