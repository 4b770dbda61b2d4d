//! The service layer: typed requests in, typed responses out (images and audio as bytes in
//! memory, never file paths), the same for every front end. The CLI parses flags, calls these
//! and writes files; an HTTP server turns them into JSON. Everything a request names goes
//! through [`crate::families::open`] and the run's capabilities.

pub mod eval;
pub mod images;
pub mod inpaint;
pub mod music;
pub mod runs;
pub mod style;
pub mod text;
