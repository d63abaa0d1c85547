//! The Bouquet side of `bench/parapheur`: PAdES B-T signing throughput against a TSA over
//! HTTP, and the peak memory of signing a big file. Not a test: it prints figures.
//!
//! ```text
//! pades_bench issue DIR                       demo root, a person's RSA-2048 key and
//!                                             certificate: DIR/{root,signer,key}.pem
//! pades_bench make-pdf OUT PAGES BYTES        a PDF of PAGES pages of text, each with an
//!                                             uncompressed grey image, about BYTES long
//! pades_bench sign DIR IN_DIR OUT_DIR TSA_URL [THREADS] [WARMUP]
//!                                             signs every *.pdf of IN_DIR (B-T;
//!                                             TSA_URL "none" gives B-B), prints docs/s and
//!                                             where the time goes
//! pades_bench big DIR IN OUT TSA_URL          signs one file, prints its time and peak RSS
//! pades_bench tsa-cost                        in process, what the built-in TSA spends per
//!                                             request: its signature, and reloading its keys
//!                                             (what the server's handler does each time)
//! ```
//!
//! DIR holds the PEM files written by `issue` (the Python side loads the same ones).
//!
//! The TSA client is a minimal HTTP/1.1 client over `std::net::TcpStream` with keep-alive
//! (one connection per thread, `TCP_NODELAY`); the pyHanko loop of the bench also keeps its
//! connection (one `aiohttp.ClientSession` for the whole loop), so both pay the same.

use std::fs::{File, OpenOptions};
use std::io::{BufRead as _, BufReader, BufWriter, Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bouquet_crypto::cms::{
    SignOptions, add_signature_timestamp, parse_pem_or_der, sign_detached_digest, signature_value,
    to_pem,
};
use bouquet_crypto::keys::{Credential, SigningKey, open_private_key, seal_private_key};
use bouquet_crypto::pades::{SignatureRequest, prepare};
use bouquet_crypto::pki::{DemoPki, PersonSubject};
use bouquet_crypto::tsa::{BuiltInTsa, request_der, token_from_response};
use jiff::Timestamp;
use sha2::{Digest as _, Sha256};

type Error = Box<dyn std::error::Error + Send + Sync>;
type Res<T> = Result<T, Error>;

/// Bytes reserved for the CMS (DER); pyHanko gets twice as many hexadecimal digits.
const CONTENTS_RESERVE: usize = 16_384;

const USAGE: &str = "usage: pades_bench issue DIR | make-pdf OUT PAGES BYTES | \
                     sign DIR IN_DIR OUT_DIR TSA_URL [THREADS] [WARMUP] | big DIR IN OUT TSA_URL | \
                     tsa-cost";

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| -> Res<&str> {
        args.get(i)
            .map(String::as_str)
            .ok_or_else(|| Error::from(USAGE))
    };
    match arg(0)? {
        "issue" => issue(Path::new(arg(1)?)),
        "make-pdf" => make_pdf(Path::new(arg(1)?), arg(2)?.parse()?, arg(3)?.parse()?),
        "sign" => {
            let threads = args.get(5).map(|s| s.parse()).transpose()?.unwrap_or(1);
            let warmup = args.get(6).map(|s| s.parse()).transpose()?.unwrap_or(3);
            sign_folder(
                Path::new(arg(1)?),
                Path::new(arg(2)?),
                Path::new(arg(3)?),
                arg(4)?,
                threads,
                warmup,
            )
        }
        "big" => big(
            Path::new(arg(1)?),
            Path::new(arg(2)?),
            Path::new(arg(3)?),
            arg(4)?,
        ),
        "tsa-cost" => tsa_cost(),
        _ => Err(USAGE.into()),
    }
}

/// The system clock. The library takes time as a parameter; this program is its caller, so
/// it reads the clock, here only (signing times, certificate validity, nonce seeds).
#[allow(clippy::disallowed_methods)]
fn now() -> Timestamp {
    Timestamp::now()
}

// ---------------------------------------------------------------------------------------------
// Keys.

/// A demo root and a person's certificate, written as PEM for both sides of the bench.
fn issue(dir: &Path) -> Res<()> {
    std::fs::create_dir_all(dir)?;
    let now = now();
    let pki = DemoPki::generate(now)?;
    let signer = pki.issue_person(
        PersonSubject {
            given_name: "Anne".into(),
            surname: "Martin".into(),
            email: "anne.martin@saint-aubin.example".into(),
            organisation: "Commune de Saint-Aubin".into(),
            title: "Maire".into(),
        },
        now,
    )?;
    std::fs::write(
        dir.join("root.pem"),
        to_pem(pki.root_certificate_der(), "CERTIFICATE"),
    )?;
    std::fs::write(
        dir.join("signer.pem"),
        to_pem(&signer.certificate, "CERTIFICATE"),
    )?;
    std::fs::write(
        dir.join("key.pem"),
        to_pem(signer.key.pkcs8_der(), "PRIVATE KEY"),
    )?;
    Ok(())
}

fn load_credential(dir: &Path) -> Res<Credential> {
    let read =
        |name: &str| -> Res<Vec<u8>> { Ok(parse_pem_or_der(&std::fs::read(dir.join(name))?)?) };
    Ok(Credential {
        key: SigningKey::from_pkcs8_der(&read("key.pem")?)?,
        certificate: read("signer.pem")?,
        chain: vec![read("root.pem")?],
    })
}

// ---------------------------------------------------------------------------------------------
// Test documents.

/// Writes a PDF of `pages` pages, each with a line of text and an uncompressed 8-bit grey
/// image sized so that the file is about `bytes` long. Streams to disk: a 200 MB file takes
/// no memory to make.
fn make_pdf(out: &Path, pages: usize, bytes: usize) -> Res<()> {
    const WIDTH: usize = 1000;
    let pages = pages.max(1);
    let per_page = bytes.saturating_sub(2_000) / pages;
    let height = (per_page.saturating_sub(600) / WIDTH).max(1);
    let mut w = Counted {
        inner: BufWriter::with_capacity(1 << 20, File::create(out)?),
        at: 0,
    };
    // Objects: 1 catalog, 2 pages, 3 font, then per page: page, content, image.
    let count = 3 + 3 * pages;
    let mut offsets = vec![0u64; count + 1];
    w.put(b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n")?;
    offsets[1] = w.at;
    w.put(b"1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n")?;
    offsets[2] = w.at;
    let kids: Vec<String> = (0..pages).map(|i| format!("{} 0 R", 4 + 3 * i)).collect();
    w.put(
        format!(
            "2 0 obj\n<< /Type /Pages /Count {pages} /Kids [{}] >>\nendobj\n",
            kids.join(" ")
        )
        .as_bytes(),
    )?;
    offsets[3] = w.at;
    w.put(b"3 0 obj\n<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>\nendobj\n")?;
    let mut row = vec![0u8; WIDTH];
    for i in 0..pages {
        let (page, content, image) = (4 + 3 * i, 5 + 3 * i, 6 + 3 * i);
        offsets[page] = w.at;
        w.put(
            format!(
                "{page} 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] \
                 /Resources << /Font << /F1 3 0 R >> /XObject << /Im1 {image} 0 R >> >> \
                 /Contents {content} 0 R >>\nendobj\n"
            )
            .as_bytes(),
        )?;
        let text = format!(
            "BT /F1 18 Tf 72 780 Td (Deliberation 2026-060 - page {} sur {pages}) Tj \
             0 -24 Td (Bench parapheur : document de test) Tj ET\n\
             q 451 0 0 {} 72 {} cm /Im1 Do Q\n",
            i + 1,
            (451 * height / WIDTH).clamp(1, 600),
            (740usize.saturating_sub(451 * height / WIDTH)).max(40),
        );
        offsets[content] = w.at;
        w.put(format!("{content} 0 obj\n<< /Length {} >>\nstream\n", text.len()).as_bytes())?;
        w.put(text.as_bytes())?;
        w.put(b"\nendstream\nendobj\n")?;
        offsets[image] = w.at;
        w.put(
            format!(
                "{image} 0 obj\n<< /Type /XObject /Subtype /Image /Width {WIDTH} /Height {height} \
                 /ColorSpace /DeviceGray /BitsPerComponent 8 /Length {} >>\nstream\n",
                WIDTH * height
            )
            .as_bytes(),
        )?;
        for y in 0..height {
            for (x, px) in row.iter_mut().enumerate() {
                // A soft pattern, different on each page.
                *px = ((x ^ y).wrapping_add(i * 37) & 0x7F) as u8 + 96;
            }
            w.put(&row)?;
        }
        w.put(b"\nendstream\nendobj\n")?;
    }
    let xref = w.at;
    w.put(format!("xref\n0 {}\n0000000000 65535 f \n", count + 1).as_bytes())?;
    for offset in &offsets[1..] {
        w.put(format!("{offset:010} 00000 n \n").as_bytes())?;
    }
    w.put(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            count + 1
        )
        .as_bytes(),
    )?;
    w.inner.flush()?;
    Ok(())
}

struct Counted<W: std::io::Write> {
    inner: W,
    at: u64,
}

impl<W: std::io::Write> Counted<W> {
    fn put(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.inner.write_all(bytes)?;
        self.at += bytes.len() as u64;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// A minimal HTTP/1.1 client for the TSA.

struct TsaClient {
    host: String,
    path: String,
    conn: Option<(TcpStream, BufReader<TcpStream>)>,
}

impl TsaClient {
    fn new(url: &str) -> Res<Self> {
        let rest = url
            .strip_prefix("http://")
            .ok_or("the TSA URL must start with http://")?;
        let (host, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        Ok(TsaClient {
            host: host.to_string(),
            path: path.to_string(),
            conn: None,
        })
    }

    /// POSTs a time-stamp query; retries once on a new connection if a kept one was closed.
    fn post(&mut self, body: &[u8]) -> Res<Vec<u8>> {
        let reused = self.conn.is_some();
        match self.try_post(body) {
            Ok(reply) => Ok(reply),
            Err(_) if reused => {
                self.conn = None;
                self.try_post(body)
            }
            Err(e) => Err(e),
        }
    }

    fn try_post(&mut self, body: &[u8]) -> Res<Vec<u8>> {
        if self.conn.is_none() {
            let stream = TcpStream::connect(&self.host)?;
            stream.set_nodelay(true)?;
            stream.set_read_timeout(Some(Duration::from_secs(30)))?;
            let reader = BufReader::new(stream.try_clone()?);
            self.conn = Some((stream, reader));
        }
        let (stream, reader) = self.conn.as_mut().ok_or("no connection")?;
        let mut request = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/timestamp-query\r\n\
             Content-Length: {}\r\nConnection: keep-alive\r\n\r\n",
            self.path,
            self.host,
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(body);
        stream.write_all(&request)?;

        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err("the TSA closed the connection".into());
        }
        let status = line.split_whitespace().nth(1).unwrap_or("");
        if status != "200" {
            self.conn = None;
            return Err(format!("the TSA answered {}", line.trim()).into());
        }
        let (mut length, mut chunked, mut close) = (None, false, false);
        loop {
            line.clear();
            if reader.read_line(&mut line)? == 0 {
                return Err("truncated HTTP headers".into());
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
                match name.as_str() {
                    "content-length" => length = Some(value.parse::<usize>()?),
                    "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
                    "connection" => close = value.eq_ignore_ascii_case("close"),
                    _ => {}
                }
            }
        }
        let mut reply = Vec::new();
        if chunked {
            loop {
                line.clear();
                reader.read_line(&mut line)?;
                let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)?;
                let mut chunk = vec![0u8; size + 2];
                reader.read_exact(&mut chunk)?;
                if size == 0 {
                    break;
                }
                reply.extend_from_slice(&chunk[..size]);
            }
        } else {
            let length = length.ok_or("no Content-Length in the TSA's reply")?;
            reply.resize(length, 0);
            reader.read_exact(&mut reply)?;
        }
        if close {
            self.conn = None;
        }
        Ok(reply)
    }
}

// ---------------------------------------------------------------------------------------------
// Signing.

/// Time spent in each phase, summed over documents.
#[derive(Default, Clone, Copy)]
struct Phases {
    /// Parsing the PDF, building the incremental update, hashing the byte range.
    prepare: Duration,
    /// The CMS: signed attributes, RSA signature.
    cms: Duration,
    /// Time-stamp request, HTTP round trip (the TSA's own RSA signature included), token check.
    tsa: Duration,
    /// Adding the token to the CMS, `/Contents`.
    assemble: Duration,
    /// Writing the signed file (copy of the original + the appended update).
    write: Duration,
}

impl Phases {
    fn add(&mut self, other: &Phases) {
        self.prepare += other.prepare;
        self.cms += other.cms;
        self.tsa += other.tsa;
        self.assemble += other.assemble;
        self.write += other.write;
    }
}

struct Signer<'a> {
    credential: &'a Credential,
    tsa: Option<TsaClient>,
    nonce: u64,
}

impl Signer<'_> {
    /// Signs `input` into `output` (PAdES B-T, or B-B without a TSA).
    fn sign(&mut self, input: &Path, output: &Path, phases: &mut Phases) -> Res<()> {
        let t0 = Instant::now();
        let file = File::open(input)?;
        let mut request = SignatureRequest::new("Anne Martin", now());
        request.reason = Some("Bench parapheur".into());
        request.contents_reserve = CONTENTS_RESERVE;
        let prepared = prepare(&file, &request)?;
        let t1 = Instant::now();
        let cms = sign_detached_digest(self.credential, &prepared.digest, &SignOptions::default())?;
        let t2 = Instant::now();
        let cms = match &mut self.tsa {
            Some(client) => {
                self.nonce = self.nonce.wrapping_add(1).max(1);
                let imprint: [u8; 32] = Sha256::digest(signature_value(&cms)?).into();
                let reply = client.post(&request_der(&imprint, self.nonce)?)?;
                let token = token_from_response(&reply, &imprint, self.nonce)?;
                let t3 = Instant::now();
                phases.tsa += t3 - t2;
                let cms = add_signature_timestamp(&cms, &token)?;
                phases.assemble += t3.elapsed();
                cms
            }
            None => cms,
        };
        let t4 = Instant::now();
        let tail = prepared.finish(&cms)?;
        std::fs::copy(input, output)?;
        let mut out = OpenOptions::new().append(true).open(output)?;
        out.write_all(&tail)?;
        let t5 = Instant::now();
        phases.prepare += t1 - t0;
        phases.cms += t2 - t1;
        phases.write += t5 - t4;
        Ok(())
    }
}

fn new_signer<'a>(credential: &'a Credential, tsa_url: &str, seed: u64) -> Res<Signer<'a>> {
    Ok(Signer {
        credential,
        tsa: match tsa_url {
            "none" => None,
            url => Some(TsaClient::new(url)?),
        },
        nonce: seed,
    })
}

fn nonce_seed() -> u64 {
    let nanos = now().as_nanosecond();
    (nanos as u64) & 0x0000_FFFF_FFFF_0000
}

fn sign_folder(
    keys: &Path,
    in_dir: &Path,
    out_dir: &Path,
    tsa_url: &str,
    threads: usize,
    warmup: usize,
) -> Res<()> {
    let credential = load_credential(keys)?;
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(in_dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pdf"))
        .collect();
    inputs.sort();
    if inputs.is_empty() {
        return Err(format!("no PDF in {}", in_dir.display()).into());
    }
    std::fs::create_dir_all(out_dir)?;
    let output = |p: &Path| out_dir.join(p.file_name().unwrap_or_default());
    let threads = threads.max(1);
    let seed = nonce_seed();

    // Warm-up (not counted): the first connection, the page cache, the allocator.
    {
        let mut signer = new_signer(&credential, tsa_url, seed ^ 0xFFFF)?;
        let warm = out_dir.join("warmup.pdf.tmp");
        for input in inputs.iter().take(warmup) {
            signer.sign(input, &warm, &mut Phases::default())?;
        }
        let _ = std::fs::remove_file(&warm);
    }

    let next = AtomicUsize::new(0);
    let start = Instant::now();
    let results: Vec<Res<Phases>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (credential, inputs, next, output) = (&credential, &inputs, &next, &output);
                scope.spawn(move || -> Res<Phases> {
                    let mut signer =
                        new_signer(credential, tsa_url, seed.wrapping_add((t as u64) << 40))?;
                    let mut phases = Phases::default();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(input) = inputs.get(i) else {
                            break;
                        };
                        signer.sign(input, &output(input), &mut phases)?;
                    }
                    Ok(phases)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("a thread panicked".into())))
            .collect()
    });
    let elapsed = start.elapsed().as_secs_f64();
    let mut phases = Phases::default();
    for result in results {
        phases.add(&result?);
    }
    let n = inputs.len();
    let per_doc = |d: Duration| d.as_secs_f64() * 1000.0 / n as f64;
    println!(
        "RESULT docs={n} threads={threads} seconds={elapsed:.3} docs_per_s={:.1} peak_rss_kb={}",
        n as f64 / elapsed,
        peak_rss_kb()?
    );
    println!(
        "PROFILE prepare_ms={:.3} cms_ms={:.3} tsa_ms={:.3} assemble_ms={:.3} write_ms={:.3} \
         wall_ms_per_doc={:.3}",
        per_doc(phases.prepare),
        per_doc(phases.cms),
        per_doc(phases.tsa),
        per_doc(phases.assemble),
        per_doc(phases.write),
        elapsed * 1000.0 / n as f64,
    );
    Ok(())
}

/// Signs one (big) file and prints the time and the process's peak resident memory.
fn big(keys: &Path, input: &Path, output: &Path, tsa_url: &str) -> Res<()> {
    let credential = load_credential(keys)?;
    let before = peak_rss_kb()?;
    let mut signer = new_signer(&credential, tsa_url, nonce_seed())?;
    // Not counted: the first signature of a process seeds aws-lc's random generator (tens of
    // milliseconds, once), like the key loaded once by pyHanko's loop.
    sign_detached_digest(&credential, &[0; 32], &SignOptions::default())?;
    let mut phases = Phases::default();
    let start = Instant::now();
    signer.sign(input, output, &mut phases)?;
    let elapsed = start.elapsed().as_secs_f64();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "BIG bytes={} seconds={elapsed:.3} peak_rss_kb={} rss_before_kb={before} \
         prepare_ms={:.1} cms_ms={:.1} tsa_ms={:.1} write_ms={:.1}",
        std::fs::metadata(input)?.len(),
        peak_rss_kb()?,
        ms(phases.prepare),
        ms(phases.cms),
        ms(phases.tsa),
        ms(phases.write),
    );
    Ok(())
}

/// What the built-in TSA costs per request, in process: its answer (an RSA-2048 signature and
/// DER), and reloading its keys from their sealed form as the server's handler does for every
/// request (two AES-GCM openings, the root's RSA-3072 and the TSA's RSA-2048 keys parsed and
/// checked). The rest of a round trip is HTTP and the database (serial number).
fn tsa_cost() -> Res<()> {
    const N: u32 = 200;
    let now = now();
    let pki = DemoPki::generate(now)?;
    let tsa_credential = pki.issue_tsa(now)?;
    let master = [7u8; 32];
    let sealed_root = seal_private_key(&master, "pki.root", pki.root_key_pkcs8())?;
    let sealed_tsa = seal_private_key(&master, "pki.tsa", tsa_credential.key.pkcs8_der())?;
    let tsa_cert = tsa_credential.certificate.clone();
    let tsa = BuiltInTsa::new(tsa_credential);
    let request = request_der(&[1; 32], 1)?;
    tsa.respond(&request, now, 1)?;

    let start = Instant::now();
    for serial in 0..N {
        tsa.respond(&request, now, u64::from(serial) + 2)?;
    }
    let respond = start.elapsed() / N;

    let start = Instant::now();
    for _ in 0..N {
        let root_key = open_private_key(&master, "pki.root", &sealed_root)?;
        let demo = DemoPki::from_parts(pki.root_certificate_der(), &root_key)?;
        let tsa_key = open_private_key(&master, "pki.tsa", &sealed_tsa)?;
        let _ = BuiltInTsa::new(Credential {
            key: SigningKey::from_pkcs8_der(&tsa_key)?,
            certificate: tsa_cert.clone(),
            chain: vec![demo.root_certificate_der().to_vec()],
        });
    }
    let reload = start.elapsed() / N;
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "TSA respond_ms={:.3} reload_keys_ms={:.3}",
        ms(respond),
        ms(reload)
    );
    Ok(())
}

/// `VmHWM` of `/proc/self/status`, in kB.
fn peak_rss_kb() -> Res<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .ok_or("no VmHWM in /proc/self/status")?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .ok_or("unreadable VmHWM")?
        .parse()?)
}
