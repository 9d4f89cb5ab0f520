//! iroh-probe: two iroh endpoints talk through one iroh-relay, as Delta
//! Chat's realtime channels do (iroh-relay 0.35 client protocol).
//!
//!   iroh-probe URL [--count N] [--size BYTES] [--insecure] [--timeout SECS]
//!
//! Connects client A and client B (fresh keys) to the relay at URL
//! (https://<domain>/ through nginx, or http://127.0.0.1:3340/ directly),
//! sends N datagrams A -> B; B answers each one back to A. Prints one
//! line: "ok sent=N a_to_b=N b_to_a=N rtt_us min=.. p50=.. p90=.. max=.."
//! and exits 0 when every datagram arrived both ways with its content
//! intact; otherwise prints "fail ..." and exits 1. --insecure skips the
//! relay's certificate check (test CAs; the client trusts only the
//! webpki roots).
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use iroh_base::{RelayUrl, SecretKey};
use iroh_relay::{
    client::{Client, ClientBuilder, ReceivedMessage, SendMessage},
    dns::DnsResolver,
};

struct Args {
    url: RelayUrl,
    count: usize,
    size: usize,
    insecure: bool,
    timeout: Duration,
}

fn args() -> Result<Args> {
    let mut a = std::env::args().skip(1);
    let mut out = Args {
        url: "http://127.0.0.1:3340".parse()?,
        count: 20,
        size: 64,
        insecure: false,
        timeout: Duration::from_secs(20),
    };
    let mut url = None;
    while let Some(x) = a.next() {
        match x.as_str() {
            "--count" => out.count = a.next().context("--count N")?.parse()?,
            "--size" => out.size = a.next().context("--size BYTES")?.parse()?,
            "--timeout" => {
                out.timeout = Duration::from_secs(a.next().context("--timeout SECS")?.parse()?)
            }
            "--insecure" => out.insecure = true,
            u if url.is_none() && !u.starts_with('-') => url = Some(u.to_string()),
            _ => bail!(
                "usage: iroh-probe URL [--count N] [--size BYTES] [--insecure] [--timeout SECS]"
            ),
        }
    }
    out.url = url.context("no relay URL")?.parse()?;
    if out.size < 8 || out.size > 16 * 1024 {
        bail!("--size must be 8..16384");
    }
    Ok(out)
}

async fn connect(a: &Args, key: SecretKey) -> Result<Client> {
    ClientBuilder::new(a.url.clone(), key, DnsResolver::new())
        .insecure_skip_cert_verify(a.insecure)
        .connect()
        .await
        .with_context(|| format!("connecting to {}", a.url))
}

/// recv_packet: the next datagram, skipping keep-alives and pings
async fn recv_packet(c: &mut Client) -> Result<(iroh_base::NodeId, Bytes)> {
    loop {
        match c.next().await.context("relay closed the connection")?? {
            ReceivedMessage::ReceivedPacket {
                remote_node_id,
                data,
            } => return Ok((remote_node_id, data)),
            ReceivedMessage::Ping(p) => c.send(SendMessage::Pong(p)).await?,
            _ => {}
        }
    }
}

/// recv_data: the next datagram that is not a late hello
async fn recv_data(c: &mut Client) -> Result<(iroh_base::NodeId, Bytes)> {
    loop {
        let (from, data) = recv_packet(c).await?;
        if &data[..] != b"hello" {
            return Ok((from, data));
        }
    }
}

/// hello: send a short datagram from -> to every 200 ms until it arrives
async fn hello(from: &mut Client, to: &mut Client, to_id: iroh_base::NodeId) -> Result<()> {
    let msg = Bytes::from_static(b"hello");
    for _ in 0..50 {
        from.send(SendMessage::SendPacket(to_id, msg.clone()))
            .await?;
        if let Ok(got) = tokio::time::timeout(Duration::from_millis(200), recv_packet(to)).await {
            if got?.1 == msg {
                return Ok(());
            }
        }
    }
    bail!("no hello after 10 s")
}

fn payload(i: usize, size: usize) -> Bytes {
    let mut v = vec![0u8; size];
    v[..8].copy_from_slice(&(i as u64).to_be_bytes());
    for (j, b) in v.iter_mut().enumerate().skip(8) {
        *b = (i * 31 + j) as u8;
    }
    Bytes::from(v)
}

async fn run(a: &Args) -> Result<(usize, usize, Vec<Duration>)> {
    let ka = SecretKey::generate(rand::rngs::OsRng);
    let kb = SecretKey::generate(rand::rngs::OsRng);
    let (ida, idb) = (ka.public(), kb.public());
    let mut ca = connect(a, ka).await?;
    let mut cb = connect(a, kb).await?;
    let (mut a_to_b, mut b_to_a, mut rtts) = (0, 0, Vec::new());
    // the relay registers a client shortly after its handshake, and a
    // datagram for a node it does not know yet is dropped: say hello
    // both ways until each side has heard the other
    hello(&mut ca, &mut cb, idb)
        .await
        .context("no datagram A -> B")?;
    hello(&mut cb, &mut ca, ida)
        .await
        .context("no datagram B -> A")?;
    for i in 0..a.count {
        let msg = payload(i, a.size);
        let t0 = Instant::now();
        ca.send(SendMessage::SendPacket(idb, msg.clone())).await?;
        let (from, got) = recv_data(&mut cb).await?;
        if from != ida || got != msg {
            bail!(
                "datagram {i}: B got {} bytes from {from}, not A's",
                got.len()
            );
        }
        a_to_b += 1;
        cb.send(SendMessage::SendPacket(ida, got)).await?;
        let (from, back) = recv_data(&mut ca).await?;
        if from != idb || back != msg {
            bail!(
                "datagram {i}: A got {} bytes from {from}, not B's echo",
                back.len()
            );
        }
        b_to_a += 1;
        rtts.push(t0.elapsed());
    }
    Ok((a_to_b, b_to_a, rtts))
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let a = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("iroh-probe: {e:#}");
            std::process::exit(64);
        }
    };
    match tokio::time::timeout(a.timeout, run(&a)).await {
        Ok(Ok((ab, ba, mut rtts))) => {
            rtts.sort();
            let us = |q: f64| rtts[((rtts.len() - 1) as f64 * q) as usize].as_micros();
            println!(
                "ok sent={} a_to_b={ab} b_to_a={ba} rtt_us min={} p50={} p90={} max={}",
                a.count,
                us(0.0),
                us(0.5),
                us(0.9),
                us(1.0)
            );
        }
        Ok(Err(e)) => {
            println!("fail {e:#}");
            std::process::exit(1);
        }
        Err(_) => {
            println!("fail timeout after {:?}", a.timeout);
            std::process::exit(1);
        }
    }
}
