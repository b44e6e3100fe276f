//! Which message may come when: small state machines, one per stream and
//! side, that refuse out-of-order messages (a second hello, a job message on
//! the control stream, an item after done…). Pure: no IO, no clocks.

use crate::message::{Message, ProtocolError};

/// The register's view of a master's (or operator's) control stream.
#[derive(Debug, Default)]
pub struct RegisterControl {
    greeted: bool,
    operator: bool,
}

impl RegisterControl {
    /// Checks a message from the master.
    pub fn accept(&mut self, msg: &Message) -> Result<(), ProtocolError> {
        let unexpected = |state| Err(ProtocolError::Unexpected { got: msg.name(), state });
        match (self.greeted, msg) {
            (false, Message::Hello(_)) => {
                self.greeted = true;
                Ok(())
            }
            (false, Message::OperatorHello(_)) => {
                self.greeted = true;
                self.operator = true;
                Ok(())
            }
            (false, _) => unexpected("before hello"),
            (true, Message::Hello(_) | Message::OperatorHello(_)) => unexpected("(a second hello)"),
            (true, _) if self.operator => unexpected("on an operator's control stream"),
            (true, Message::Announce(_) | Message::Load(_) | Message::Stats(_) | Message::Command(_)) => Ok(()),
            (true, _) => unexpected("on the control stream"),
        }
    }
}

/// The master's view of its control stream.
#[derive(Debug, Default)]
pub struct MasterControl {
    welcomed: bool,
}

impl MasterControl {
    /// Checks a message from the register.
    pub fn accept(&mut self, msg: &Message) -> Result<(), ProtocolError> {
        let unexpected = |state| Err(ProtocolError::Unexpected { got: msg.name(), state });
        match (self.welcomed, msg) {
            (false, Message::Welcome(_)) => {
                self.welcomed = true;
                Ok(())
            }
            (false, Message::AuthFailed(_)) => Ok(()),
            (false, _) => unexpected("before welcome"),
            (true, Message::Command(_)) => Ok(()),
            (true, _) => unexpected("on the control stream"),
        }
    }
}

/// The master's view of a job stream (messages from the register).
#[derive(Debug, Default)]
pub struct MasterJob {
    started: bool,
    module_requested: bool,
    module_received: bool,
    input_closed: bool,
}

impl MasterJob {
    /// Records that the master asked for the module.
    pub fn requested_module(&mut self) {
        self.module_requested = true;
    }

    /// Checks a message from the register.
    pub fn accept(&mut self, msg: &Message) -> Result<(), ProtocolError> {
        let unexpected = |state| Err(ProtocolError::Unexpected { got: msg.name(), state });
        match msg {
            Message::JobStart(_) if !self.started => {
                self.started = true;
                Ok(())
            }
            _ if !self.started => unexpected("before job-start"),
            Message::JobStart(_) => unexpected("(a second job-start)"),
            Message::Module(_) if self.module_requested && !self.module_received => {
                self.module_received = true;
                Ok(())
            }
            Message::Module(_) => unexpected("without need-module"),
            Message::Input(_) if !self.input_closed => Ok(()),
            Message::InputEnd if !self.input_closed => {
                self.input_closed = true;
                Ok(())
            }
            Message::Input(_) | Message::InputEnd => unexpected("after input-end"),
            _ => unexpected("on a job stream from the register"),
        }
    }
}

/// The register's view of a job stream (messages from the master).
#[derive(Debug, Default)]
pub struct RegisterJob {
    output_started: bool,
    asked_module: bool,
    ended: bool,
}

impl RegisterJob {
    /// Checks a message from the master.
    pub fn accept(&mut self, msg: &Message) -> Result<(), ProtocolError> {
        let unexpected = |state| Err(ProtocolError::Unexpected { got: msg.name(), state });
        if self.ended {
            return unexpected("after the job ended");
        }
        match msg {
            Message::NeedModule if !self.asked_module && !self.output_started => {
                self.asked_module = true;
                Ok(())
            }
            Message::NeedModule => unexpected("(module already requested or job running)"),
            Message::Item(_) | Message::Log { .. } => {
                self.output_started = true;
                Ok(())
            }
            Message::Done(_) | Message::Failed(_) => {
                self.ended = true;
                Ok(())
            }
            _ => unexpected("on a job stream from the master"),
        }
    }

    /// Whether a terminal `Done`/`Failed` arrived.
    pub fn ended(&self) -> bool {
        self.ended
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::JobLimits;
    use crate::message::{Hello, JobStart, Welcome, PROTOCOL_VERSION};

    fn hello() -> Message {
        Message::Hello(Hello { version: PROTOCOL_VERSION, token: "t".into(), node_id: "n".into(), max_jobs: 1, services: vec![] })
    }

    fn start() -> Message {
        Message::JobStart(JobStart { sha256: String::new(), size: 0, input: "{}".into(), limits: JobLimits::default(), signature: None })
    }

    #[test]
    fn register_control_wants_hello_first_and_once() {
        let mut s = RegisterControl::default();
        assert!(s.accept(&Message::Load(1)).is_err());
        let mut s = RegisterControl::default();
        s.accept(&hello()).unwrap();
        s.accept(&Message::Announce(vec![])).unwrap();
        s.accept(&Message::Load(2)).unwrap();
        let err = s.accept(&hello()).unwrap_err();
        assert_eq!(err.to_string(), "unexpected hello (a second hello)");
        assert!(s.accept(&Message::Item("1".into())).is_err());
    }

    #[test]
    fn master_control_wants_welcome_first() {
        let mut s = MasterControl::default();
        assert!(s.accept(&Message::Load(1)).is_err());
        let mut s = MasterControl::default();
        s.accept(&Message::Welcome(Welcome { version: PROTOCOL_VERSION, register_id: "r".into() })).unwrap();
        assert!(s.accept(&Message::Command(crate::message::Command { cmd: "x".into(), payload: serde_json::Value::Null })).is_ok());
        assert!(s.accept(&Message::NeedModule).is_err());
    }

    #[test]
    fn master_job_refuses_out_of_order_frames() {
        let mut s = MasterJob::default();
        assert!(s.accept(&Message::Input("1".into())).is_err());
        let mut s = MasterJob::default();
        s.accept(&start()).unwrap();
        assert!(s.accept(&Message::Module(vec![])).is_err(), "module nobody asked for");
        s.requested_module();
        s.accept(&Message::Module(vec![])).unwrap();
        assert!(s.accept(&Message::Module(vec![])).is_err(), "module twice");
        s.accept(&Message::Input("1".into())).unwrap();
        s.accept(&Message::InputEnd).unwrap();
        assert!(s.accept(&Message::Input("2".into())).is_err());
        assert!(s.accept(&start()).is_err());
    }

    #[test]
    fn register_job_ends_exactly_once() {
        let mut s = RegisterJob::default();
        s.accept(&Message::NeedModule).unwrap();
        s.accept(&Message::Item("1".into())).unwrap();
        assert!(s.accept(&Message::NeedModule).is_err());
        assert!(!s.ended());
        s.accept(&Message::Done(1)).unwrap();
        assert!(s.ended());
        assert!(s.accept(&Message::Item("2".into())).is_err());
        assert!(s.accept(&Message::Done(1)).is_err());
    }
}
