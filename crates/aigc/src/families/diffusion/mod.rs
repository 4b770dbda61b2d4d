//! Diffusion and flow-matching image models (issue 16), in progress: the denoising UNet and the
//! noise schedules, timed as workload W5 by `aigc bench w5`. The trainer, samplers and the
//! family's registration come next; until then no run of this family exists.

pub mod schedule;
pub mod unet;

pub use schedule::{Schedule, ScheduleKind, flow_interpolant};
pub use unet::{Unet, UnetConfig, sinusoidal};
