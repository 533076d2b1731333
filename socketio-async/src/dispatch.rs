//! The dispatcher: one task that takes the core's events in order and
//! runs the application's middlewares and handlers for them.

use std::sync::Arc;

use engineio_proto::{Event as EngineEvent, Sid, TransportKind};
use futures_channel::mpsc;
use futures_util::StreamExt;
use serde_json::Value;
use socketio_proto::{Event, ParentId, SocketId};

use crate::backend::{Backend, act, start};
use crate::io::{Connecting, NsHandlers, ServerSideAck, SocketEntry, SocketIo, lock};
use crate::payload::{AckError, Payload};
use crate::socket::{AckSender, Socket, SocketState};

pub(crate) async fn run(io: SocketIo, mut events: mpsc::UnboundedReceiver<Event>) {
    while let Some(event) = events.next().await {
        handle(&io, event);
    }
}

fn handlers_for(io: &SocketIo, nsp: &str, parent: Option<ParentId>) -> Option<Arc<NsHandlers>> {
    match parent {
        Some(ParentId(p)) => lock(&io.inner.parents).get(p as usize).cloned(),
        None => lock(&io.inner.namespaces).get(nsp).cloned(),
    }
}

fn socket(io: &SocketIo, id: &SocketId) -> Option<Socket> {
    let entry = lock(&io.inner.sockets).get(id).cloned()?;
    Some(Socket {
        io: io.clone(),
        id: id.clone(),
        nsp: entry.nsp,
        handshake: entry.handshake,
        recovered: entry.recovered,
        sid: entry.sid,
        state: entry.state,
    })
}

fn handle(io: &SocketIo, event: Event) {
    let Some(backend) = io.inner.backend.get().cloned() else {
        return;
    };
    match event {
        Event::Connect {
            socket,
            nsp,
            parent,
            handshake,
        } => {
            let middlewares = handlers_for(io, &nsp, parent)
                .map(|h| lock(&h.middlewares).clone())
                .unwrap_or_default();
            let task_backend = backend.clone();
            start(
                backend.as_ref(),
                Box::pin(async move {
                    let connecting = Connecting {
                        id: socket.clone(),
                        nsp,
                        handshake,
                    };
                    for middleware in middlewares {
                        if let Err(refusal) = middleware(connecting.clone()).await {
                            act(task_backend.as_ref(), |core, now| {
                                core.reject(now, &socket, &refusal.message, refusal.data)
                            });
                            return;
                        }
                    }
                    act(task_backend.as_ref(), |core, now| {
                        let _ = core.accept(now, &socket);
                    });
                }),
            );
        }
        Event::Connection {
            socket: id,
            nsp,
            recovered,
        } => {
            let Some((handshake, sid)) = act(backend.as_ref(), |core, _| {
                let handshake = core.socket(&id)?.handshake;
                Some((handshake, core.socket_sid(&id)?.clone()))
            }) else {
                return;
            };
            let parent = lock(&io.inner.namespaces).get(nsp.as_str()).is_none();
            let entry = SocketEntry {
                nsp: nsp.clone(),
                handshake,
                recovered,
                sid,
                state: Arc::new(SocketState::default()),
            };
            lock(&io.inner.sockets).insert(id.clone(), entry);
            // A child of a parent namespace uses its parent's handler.
            let handlers = if parent {
                act(backend.as_ref(), |core, _| core.parent_of(&nsp))
                    .and_then(|p| handlers_for(io, &nsp, Some(p)))
            } else {
                handlers_for(io, &nsp, None)
            };
            let handler = handlers.and_then(|h| lock(&h.on_connection).clone());
            if let (Some(handler), Some(socket)) = (handler, socket(io, &id)) {
                start(backend.as_ref(), handler(socket));
            }
        }
        Event::Event {
            socket: id, event, ..
        } => {
            let Some(socket) = socket(io, &id) else {
                return;
            };
            // A string name (the usual case) is moved out of the array
            // rather than copied; a number gets its JavaScript form.
            let number_name = match event.name() {
                Some(Value::String(_)) => None,
                _ => Some(event.name_str().map(|n| n.into_owned()).unwrap_or_default()),
            };
            let ack_id = event.id;
            let (mut args, binary) = event.into_parts();
            let first = (!args.is_empty()).then(|| args.remove(0));
            let name = match (number_name, first) {
                (Some(name), _) => name,
                (None, Some(Value::String(name))) => name,
                (None, _) => String::new(),
            };
            let payload = Payload { args, binary };
            let middlewares = lock(&socket.state.middlewares).clone();
            for middleware in middlewares {
                if let Err(error) = middleware(&name, &payload) {
                    let on_error = lock(&socket.state.on_error).clone();
                    if let Some(on_error) = on_error {
                        start(backend.as_ref(), on_error(socket.clone(), error));
                    }
                    return;
                }
            }
            let any = lock(&socket.state.any).clone();
            for hook in any {
                hook(&name, &payload);
            }
            let handler = lock(&socket.state.events).get(&name).cloned();
            if let Some(handler) = handler {
                let ack = ack_id.map(|id| AckSender {
                    socket: socket.clone(),
                    id,
                });
                start(backend.as_ref(), handler(socket, payload, ack));
            }
        }
        Event::Ack {
            socket,
            id,
            data,
            attachments,
        } => {
            if let Some(tx) = lock(&io.inner.acks).remove(&(socket, id)) {
                let _ = tx.send(Ok(Payload {
                    args: data,
                    binary: attachments,
                }));
            }
        }
        Event::AckTimeout { socket, id } => {
            if let Some(tx) = lock(&io.inner.acks).remove(&(socket, id)) {
                let _ = tx.send(Err(AckError::Timeout));
            }
        }
        Event::BroadcastAck {
            broadcast,
            data,
            attachments,
            ..
        } => {
            if let Some(c) = lock(&io.inner.broadcast_acks).get_mut(&broadcast) {
                c.answers.push(Payload {
                    args: data,
                    binary: attachments,
                });
            }
        }
        Event::BroadcastAckDone {
            broadcast,
            expected,
            received,
        } => {
            if let Some(c) = lock(&io.inner.broadcast_acks).remove(&broadcast) {
                let result = if received == expected {
                    Ok(c.answers)
                } else {
                    Err(AckError::Timeout)
                };
                let _ = c.done.send(result);
            }
        }
        Event::Error {
            socket: id,
            message,
        } => {
            if let Some(socket) = socket(io, &id) {
                let on_error = lock(&socket.state.on_error).clone();
                if let Some(on_error) = on_error {
                    start(backend.as_ref(), on_error(socket, message));
                }
            }
        }
        Event::Disconnecting {
            socket: id,
            reason,
            rooms,
            ..
        } => {
            if let Some(socket) = socket(io, &id) {
                *lock(&socket.state.last_rooms) = rooms;
                let handler = lock(&socket.state.on_disconnecting).clone();
                if let Some(handler) = handler {
                    start(backend.as_ref(), handler(socket, reason));
                }
            }
        }
        Event::Disconnect {
            socket: id, reason, ..
        } => {
            if let Some(socket) = socket(io, &id) {
                let handler = lock(&socket.state.on_disconnect).clone();
                lock(&io.inner.sockets).remove(&id);
                if let Some(handler) = handler {
                    start(backend.as_ref(), handler(socket, reason));
                }
            }
        }
        Event::FetchSocketsDone { request, .. } | Event::ServerSideEmitDone { request, .. } => {
            if let Some(tx) = lock(&io.inner.requests).remove(&request) {
                let _ = tx.send(event);
            }
        }
        Event::ServerSideEmit { nsp, data, reply } => {
            let handlers = handlers_for(io, &nsp, None)
                .map(|h| lock(&h.server_side).clone())
                .unwrap_or_default();
            for handler in handlers {
                let ack = reply.clone().map(|reply| ServerSideAck {
                    io: io.clone(),
                    reply,
                });
                let payload = Payload {
                    args: data.clone(),
                    binary: Vec::new(),
                };
                start(backend.as_ref(), handler(payload, ack));
            }
        }
        Event::Engine(event) => engine_event(io, &backend, event),
    }
}

/// An engine event: `allowRequest`, `connection_error`, and the events of
/// connections that have handlers. Handlers are copied out of their locks
/// before they run, so they may register more or act on the core.
fn engine_event(io: &SocketIo, backend: &Arc<dyn Backend>, event: EngineEvent) {
    let conn = |sid: &Sid| lock(&io.inner.conns).get(sid).cloned();
    match event {
        EngineEvent::AllowRequest { request, head } => {
            let decide = lock(&io.inner.engine_hooks).allow_request.clone();
            let task_backend = backend.clone();
            start(
                backend.as_ref(),
                Box::pin(async move {
                    // Asked without a decision registered (the config
                    // turned it on): let the handshake through rather than
                    // hold it forever.
                    let verdict = match decide {
                        Some(decide) => decide(*head).await,
                        None => Ok(()),
                    };
                    act(task_backend.as_ref(), |core, now| {
                        core.allow_request(now, request, verdict)
                    });
                }),
            );
        }
        EngineEvent::ConnectionError(error) => {
            let handlers = lock(&io.inner.engine_hooks).connection_error.clone();
            for handler in handlers {
                handler(&error);
            }
        }
        EngineEvent::Upgrading { sid } => {
            if let Some(state) = conn(&sid) {
                let handlers = lock(&state).upgrading.clone();
                for handler in handlers {
                    handler(TransportKind::WebSocket);
                }
            }
        }
        EngineEvent::Upgrade { sid } => {
            if let Some(state) = conn(&sid) {
                let handlers = lock(&state).upgrade.clone();
                for handler in handlers {
                    handler(TransportKind::WebSocket);
                }
            }
        }
        EngineEvent::Packet { sid, packet } => {
            if let Some(state) = conn(&sid) {
                let handlers = lock(&state).packet.clone();
                for handler in handlers {
                    handler(&packet);
                }
            }
        }
        EngineEvent::PacketCreate { sid, packet } => {
            if let Some(state) = conn(&sid) {
                let handlers = lock(&state).packet_create.clone();
                for handler in handlers {
                    handler(&packet);
                }
            }
        }
        EngineEvent::Drain { sid } => {
            if let Some(state) = conn(&sid) {
                let handlers = lock(&state).drain.clone();
                for handler in handlers {
                    handler();
                }
            }
        }
        EngineEvent::Close {
            sid,
            reason,
            description,
        } => {
            let state = lock(&io.inner.conns).remove(&sid);
            if let Some(state) = state {
                let handlers = lock(&state).close.clone();
                for handler in handlers {
                    handler(reason, description);
                }
            }
        }
        // Sessions opening and their messages are the Socket.IO layer's.
        EngineEvent::Open { .. } | EngineEvent::Message { .. } => {}
    }
}
