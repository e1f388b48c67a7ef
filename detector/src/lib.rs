//! Streaming, event-time detection: per-sector baselines, sketches, NBAD detectors, Sigma
//! and IOC matching, and cross-sector correlation into [`ncsoc_model::Incident`]s. Arrives
//! with the detector and rules issues.

pub mod sim;
