//! Async sources: syslog UDP/TCP/TLS listeners, the HEC-compatible HTTP intake, flow
//! listeners, pcap reading and live capture, and the Kafka consumer. Each hands
//! normalised [`ncsoc_model::Event`]s to the store writer and the detector over bounded
//! channels. The sources arrive with the intake, flow and scale-out issues.
