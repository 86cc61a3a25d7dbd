//! The CVAT client: [`transport`] (how requests reach the server), [`requests`] (background request
//! polling, downloads), [`upload`] (the CVAT upload flow and TUS), [`tasks`] (the task use cases).

pub mod error;
pub mod requests;
pub mod tasks;
pub mod transport;
pub mod upload;

pub use error::ClientError;
pub use tasks::{DataSpec, ResourceType, TaskSpec, Wait};
pub use transport::{server_url, Client, ClientConfig, Credentials, DebugSink};
