//! The I/O surface a runtime drives, shared by the engine and by any layer
//! that owns an engine and passes its I/O through (the Socket.IO core).

use std::time::Instant;

use bytes::Bytes;

use crate::http::Request;
use crate::output::{Output, RequestId};
use crate::packet::Frame;

/// An Engine.IO endpoint as a runtime sees it: HTTP requests and WebSocket
/// messages in, [`Output`]s and a deadline out. A runtime binding written
/// against this trait serves the bare engine and the Socket.IO server alike.
pub trait Endpoint {
    /// What the endpoint tells the application.
    type Event;

    /// The engine's configuration (the path served, the message size limit).
    fn engine_config(&self) -> &crate::Config;

    /// An HTTP request on the endpoint's path.
    fn handle_request(&mut self, now: Instant, request: Request) -> RequestId;
    /// The body of a POST asked for with [`Output::ReadBody`].
    fn handle_body(&mut self, now: Instant, request: RequestId, body: Bytes);
    /// A request still held was dropped by the client.
    fn handle_request_closed(&mut self, now: Instant, request: RequestId);
    /// A WebSocket message.
    fn handle_ws_message(&mut self, now: Instant, ws: RequestId, frame: Frame);
    /// Everything handed out for a WebSocket is written.
    fn handle_ws_flushed(&mut self, now: Instant, ws: RequestId);
    /// A WebSocket closed (`error` for a failure).
    fn handle_ws_closed(&mut self, now: Instant, ws: RequestId, error: bool);
    /// The deadline of [`poll_timeout`](Self::poll_timeout) passed.
    fn handle_timeout(&mut self, now: Instant);
    /// The next I/O to perform.
    fn poll_output(&mut self) -> Option<Output>;
    /// The next event for the application.
    fn poll_event(&mut self) -> Option<Self::Event>;
    /// The earliest deadline.
    fn poll_timeout(&self) -> Option<Instant>;
    /// Closes every session with "server shutting down" (`close()` on the
    /// official servers); the runtime then stops accepting connections.
    fn shutdown(&mut self, now: Instant);
}

impl Endpoint for crate::Server {
    type Event = crate::Event;

    fn engine_config(&self) -> &crate::Config {
        self.config()
    }

    fn handle_request(&mut self, now: Instant, request: Request) -> RequestId {
        crate::Server::handle_request(self, now, request)
    }
    fn handle_body(&mut self, now: Instant, request: RequestId, body: Bytes) {
        crate::Server::handle_body(self, now, request, body);
    }
    fn handle_request_closed(&mut self, now: Instant, request: RequestId) {
        crate::Server::handle_request_closed(self, now, request);
    }
    fn handle_ws_message(&mut self, now: Instant, ws: RequestId, frame: Frame) {
        crate::Server::handle_ws_message(self, now, ws, frame);
    }
    fn handle_ws_flushed(&mut self, now: Instant, ws: RequestId) {
        crate::Server::handle_ws_flushed(self, now, ws);
    }
    fn handle_ws_closed(&mut self, now: Instant, ws: RequestId, error: bool) {
        crate::Server::handle_ws_closed(self, now, ws, error);
    }
    fn handle_timeout(&mut self, now: Instant) {
        crate::Server::handle_timeout(self, now);
    }
    fn poll_output(&mut self) -> Option<Output> {
        crate::Server::poll_output(self)
    }
    fn poll_event(&mut self) -> Option<crate::Event> {
        crate::Server::poll_event(self)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        crate::Server::poll_timeout(self)
    }
    fn shutdown(&mut self, now: Instant) {
        crate::Server::shutdown(self, now);
    }
}
