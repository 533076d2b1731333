//! The sans-IO core a [`Driver`](crate::Driver) serves, as a trait: the
//! engine today, a Socket.IO core that wraps it (and passes its outputs
//! through) later.

use std::time::Instant;

use bytes::Bytes;
use engineio_proto::{Config, Frame, Output, Request, RequestId, Server};

/// A sans-IO core with the engine's input and output vocabulary.
///
/// Every method is synchronous and does no I/O: the driver calls them under
/// its lock, with `now` read under that lock, then drains
/// [`poll_output`](Core::poll_output) and [`poll_event`](Core::poll_event)
/// and sleeps until [`poll_timeout`](Core::poll_timeout). The methods mean
/// what the [`engineio_proto::Server`] methods of the same name mean.
pub trait Core: Send + 'static {
    /// What the application is told (drained into the driver's event hook).
    type Event;

    /// The engine configuration: the path served and the message size limit.
    fn engine_config(&self) -> &Config;
    /// An HTTP request on the engine's path.
    fn handle_request(&mut self, now: Instant, request: Request) -> RequestId;
    /// The body asked for with [`Output::ReadBody`].
    fn handle_body(&mut self, now: Instant, request: RequestId, body: Bytes);
    /// The client dropped a request the core had not answered.
    fn handle_request_closed(&mut self, now: Instant, request: RequestId);
    /// A message arrived on an accepted WebSocket.
    fn handle_ws_message(&mut self, now: Instant, ws: RequestId, frame: Frame);
    /// Every message handed out for this WebSocket is written and flushed.
    fn handle_ws_flushed(&mut self, now: Instant, ws: RequestId);
    /// The WebSocket closed (`error`: it failed rather than closed cleanly).
    fn handle_ws_closed(&mut self, now: Instant, ws: RequestId, error: bool);
    /// The deadline of [`poll_timeout`](Core::poll_timeout) may have passed.
    fn handle_timeout(&mut self, now: Instant);
    /// The next I/O to perform.
    fn poll_output(&mut self) -> Option<Output>;
    /// The next event for the application.
    fn poll_event(&mut self) -> Option<Self::Event>;
    /// The earliest deadline.
    fn poll_timeout(&self) -> Option<Instant>;
}

impl Core for Server {
    type Event = engineio_proto::Event;

    fn engine_config(&self) -> &Config {
        self.config()
    }
    fn handle_request(&mut self, now: Instant, request: Request) -> RequestId {
        Server::handle_request(self, now, request)
    }
    fn handle_body(&mut self, now: Instant, request: RequestId, body: Bytes) {
        Server::handle_body(self, now, request, body);
    }
    fn handle_request_closed(&mut self, now: Instant, request: RequestId) {
        Server::handle_request_closed(self, now, request);
    }
    fn handle_ws_message(&mut self, now: Instant, ws: RequestId, frame: Frame) {
        Server::handle_ws_message(self, now, ws, frame);
    }
    fn handle_ws_flushed(&mut self, now: Instant, ws: RequestId) {
        Server::handle_ws_flushed(self, now, ws);
    }
    fn handle_ws_closed(&mut self, now: Instant, ws: RequestId, error: bool) {
        Server::handle_ws_closed(self, now, ws, error);
    }
    fn handle_timeout(&mut self, now: Instant) {
        Server::handle_timeout(self, now);
    }
    fn poll_output(&mut self) -> Option<Output> {
        Server::poll_output(self)
    }
    fn poll_event(&mut self) -> Option<Self::Event> {
        Server::poll_event(self)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Server::poll_timeout(self)
    }
}
