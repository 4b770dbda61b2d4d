//! Diffusion and flow-matching image models (issue 16), in progress: the denoising UNet, the
//! noise schedules and the samplers (DDPM, DDIM, Euler/Heun for flows), the UNet timed as
//! workload W5 by `aigc bench w5`. The trainer and the family's registration come next; until
//! then no run of this family exists.

pub mod sampler;
pub mod schedule;
pub mod unet;

pub use schedule::{Schedule, ScheduleKind, flow_interpolant};
pub use unet::{Unet, UnetConfig, sinusoidal};
