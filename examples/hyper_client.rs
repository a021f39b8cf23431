//! A hyper 1.x HTTP/1 client on sandloop: GETs a URL and prints the status and the body.
//! Without a URL it serves `Hello, World!` itself (as `hyper_hello` does, on a free port)
//! and fetches from that.
//!
//! ```text
//! cargo example hyper_client --allow-connect 127.0.0.1:8080 -- http://127.0.0.1:8080/
//! cargo example hyper_client --allow-listen 127.0.0.1:0 --allow-connect 127.0.0.1:1-65535
//! ```

use std::convert::Infallible;

use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response, Uri};
use sandloop::Error;
use sandloop::streams::Connection;

async fn hello(_: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(
        b"Hello, World!",
    ))))
}

/// GETs `uri` on a connection of its own and returns the status line and the body.
async fn get(uri: &Uri) -> sandloop::Result<(String, Bytes)> {
    if uri.scheme_str() != Some("http") {
        return Err(Error::other(format!("{uri}: only http:// URLs")));
    }
    let host = uri
        .host()
        .ok_or_else(|| Error::other(format!("{uri}: no host")))?;
    let port = uri.port_u16().unwrap_or(80);
    let conn = Connection::connect(host, port).await?;
    let (mut sender, driver) = hyper::client::conn::http1::handshake(conn)
        .await
        .map_err(Error::other)?;
    // hyper's connection future does the I/O; it ends once the sender is dropped.
    sandloop::create_task(async move { driver.await.map_err(Error::other) });
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let request = Request::get(path)
        .header(
            hyper::header::HOST,
            uri.authority().map_or(host, |a| a.as_str()),
        )
        .body(Empty::<Bytes>::new())
        .map_err(Error::other)?;
    let response = sender.send_request(request).await.map_err(Error::other)?;
    let status = format!("{:?} {}", response.version(), response.status());
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(Error::other)?
        .to_bytes();
    Ok((status, body))
}

fn main() -> sandloop::Result<()> {
    let url = std::env::args().nth(1);
    sandloop::run(async move {
        let (uri, server) = match url {
            Some(url) => (url.parse::<Uri>().map_err(Error::other)?, None),
            None => {
                let server =
                    sandloop::hyper::serve(service_fn(hello), "127.0.0.1", 0, Default::default())
                        .await?;
                let addr = server.local_addr()?;
                (
                    format!("http://{addr}/").parse().map_err(Error::other)?,
                    Some(server),
                )
            }
        };
        let (status, body) = get(&uri).await?;
        println!("{status}");
        println!("{}", String::from_utf8_lossy(&body));
        if let Some(server) = server {
            server.close();
            server.wait_closed().await;
        }
        Ok::<_, Error>(())
    })
}
