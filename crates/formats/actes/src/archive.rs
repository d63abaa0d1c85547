//! Flat `.tar.gz` archives of @CTES transmissions (tar ustar + gzip -9): writing, and a
//! defensive reading that refuses path traversal, absolute paths, directories, links, special
//! files, duplicates, too many files, too many bytes and decompression bombs.

use std::io::{Read, Write};

use crate::FormatError;

/// Limits of [`unpack`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most files in the archive.
    pub max_files: usize,
    /// Most bytes once decompressed (all files and tar headers).
    pub max_total: u64,
    /// Decompressed bytes at most `max_ratio` times the archive's size (checked beyond the first 8 MiB).
    pub max_ratio: u64,
}

impl Default for Limits {
    /// 200 files, 256 MiB, ratio 100.
    fn default() -> Self {
        Limits {
            max_files: 200,
            max_total: 256 * 1024 * 1024,
            max_ratio: 100,
        }
    }
}

const BLOCK: usize = 512;

/// Packs files into a flat tar (ustar) compressed with gzip -9. Names must be plain file names
/// (no `/`, at most 100 bytes of ASCII), each once. The modification time written is 0.
pub fn pack<N: AsRef<str>, B: AsRef<[u8]>>(files: &[(N, B)]) -> Result<Vec<u8>, FormatError> {
    pack_at(files, 0)
}

/// [`pack`] with a modification time (seconds since 1970) on every entry.
pub fn pack_at<N: AsRef<str>, B: AsRef<[u8]>>(
    files: &[(N, B)],
    mtime: u64,
) -> Result<Vec<u8>, FormatError> {
    let total: usize = files
        .iter()
        .map(|(_, b)| b.as_ref().len() + 2 * BLOCK)
        .sum();
    let mut encoder =
        flate2::write::GzEncoder::new(Vec::with_capacity(total / 2), flate2::Compression::best());
    let mut seen: Vec<&str> = Vec::with_capacity(files.len());
    let io = |e: std::io::Error| FormatError::archive(format!("écriture impossible ({e})"));
    for (name, bytes) in files {
        let name = name.as_ref();
        let bytes = bytes.as_ref();
        check_name(name)?;
        if name.len() > 100 || !name.is_ascii() {
            return Err(FormatError::archive(format!(
                "nom « {name} » trop long ou non ASCII"
            )));
        }
        if seen.contains(&name) {
            return Err(FormatError::archive(format!(
                "le fichier « {name} » est en double"
            )));
        }
        seen.push(name);
        let size = bytes.len() as u64;
        if size >= 0o77777777777 {
            return Err(FormatError::archive(format!(
                "le fichier « {name} » est trop volumineux"
            )));
        }
        let header = header(name, size, mtime);
        encoder.write_all(&header).map_err(io)?;
        encoder.write_all(bytes).map_err(io)?;
        let pad = (BLOCK - bytes.len() % BLOCK) % BLOCK;
        encoder.write_all(&[0u8; BLOCK][..pad]).map_err(io)?;
    }
    encoder.write_all(&[0u8; 2 * BLOCK]).map_err(io)?;
    encoder.finish().map_err(io)
}

fn octal(field: &mut [u8], value: u64) {
    // width-1 octal digits, then NUL.
    let width = field.len() - 1;
    let text = format!("{value:0width$o}");
    field[..width].copy_from_slice(&text.as_bytes()[text.len() - width..]);
    field[width] = 0;
}

fn header(name: &str, size: u64, mtime: u64) -> [u8; BLOCK] {
    let mut h = [0u8; BLOCK];
    h[..name.len()].copy_from_slice(name.as_bytes());
    octal(&mut h[100..108], 0o644);
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], mtime.min(0o77777777777));
    h[156] = b'0';
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[265..269].copy_from_slice(b"root");
    h[297..301].copy_from_slice(b"root");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    let text = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(text.as_bytes());
    h
}

/// Checks a file name of a flat archive: not empty, no directory part, not absolute, no `..`,
/// no control character.
fn check_name(name: &str) -> Result<(), FormatError> {
    if name.is_empty() || name == "." || name == ".." {
        return Err(FormatError::archive("un fichier n'a pas de nom"));
    }
    if name.starts_with('/') || name.starts_with('\\') || name.as_bytes().get(1) == Some(&b':') {
        return Err(FormatError::archive(format!(
            "chemin absolu interdit : « {name} »"
        )));
    }
    if name.split(['/', '\\']).any(|p| p == "..") {
        return Err(FormatError::archive(format!(
            "chemin remontant hors de l'archive interdit : « {name} »"
        )));
    }
    if name.contains(['/', '\\']) {
        return Err(FormatError::archive(format!(
            "l'archive doit être à plat, sans dossier : « {name} »"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(FormatError::archive(
            "un nom de fichier contient un caractère de contrôle",
        ));
    }
    Ok(())
}

/// A reader that refuses to give more than the limits allow.
struct Bounded<R> {
    inner: R,
    read: u64,
    limit: u64,
    ratio_cap: u64,
    exceeded: Option<FormatError>,
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.limit {
            self.exceeded = Some(FormatError::archive(format!(
                "contenu décompressé trop volumineux (plus de {} Mo)",
                self.limit / (1024 * 1024)
            )));
            return Err(std::io::Error::other("limit"));
        }
        if self.read > self.ratio_cap {
            self.exceeded = Some(FormatError::archive(
                "taux de compression anormal (bombe de décompression)".to_owned(),
            ));
            return Err(std::io::Error::other("ratio"));
        }
        Ok(n)
    }
}

fn read_block<R: Read>(r: &mut Bounded<R>, buf: &mut [u8]) -> Result<bool, FormatError> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(r.exceeded.take().unwrap_or_else(|| {
                    FormatError::archive(format!("ce n'est pas une archive .tar.gz lisible ({e})"))
                }));
            }
        }
    }
    if filled == 0 {
        return Ok(false);
    }
    if filled < buf.len() {
        return Err(FormatError::archive("archive tronquée"));
    }
    Ok(true)
}

fn parse_octal(field: &[u8]) -> Option<u64> {
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        // GNU base-256.
        let mut v: u64 = u64::from(field[0] & 0x7f);
        for &b in &field[1..] {
            v = v.checked_mul(256)?.checked_add(u64::from(b))?;
        }
        return Some(v);
    }
    let text: Vec<u8> = field.iter().copied().take_while(|&b| b != 0).collect();
    let text = std::str::from_utf8(&text).ok()?.trim();
    if text.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(text, 8).ok()
}

fn cstr(field: &[u8]) -> &[u8] {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    &field[..end]
}

/// Unpacks a flat `.tar.gz`, in order. Refuses (French error): not gzip, not tar, truncated,
/// traversal (`../x`), absolute paths, directories, links, devices, duplicates, more files or
/// bytes than `limits`, an abnormal compression ratio.
pub fn unpack(archive: &[u8], limits: Limits) -> Result<Vec<(String, Vec<u8>)>, FormatError> {
    if archive.len() < 2 || archive[0] != 0x1f || archive[1] != 0x8b {
        return Err(FormatError::archive(
            "ce n'est pas une archive .tar.gz (compression gzip attendue)",
        ));
    }
    let ratio_cap = (archive.len() as u64)
        .saturating_mul(limits.max_ratio)
        .max(8 * 1024 * 1024);
    let mut r = Bounded {
        inner: flate2::read::GzDecoder::new(archive),
        read: 0,
        limit: limits.max_total,
        ratio_cap,
        exceeded: None,
    };
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut long_name: Option<String> = None;
    let mut pax_path: Option<String> = None;
    let mut pax_size: Option<u64> = None;
    let mut header = [0u8; BLOCK];
    loop {
        if !read_block(&mut r, &mut header)? {
            break; // end without the two zero blocks: tolerated
        }
        if header.iter().all(|&b| b == 0) {
            break;
        }
        let stored = parse_octal(&header[148..156])
            .ok_or_else(|| FormatError::archive("en-tête tar illisible"))?;
        let unsigned: u64 = header
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    u64::from(b)
                }
            })
            .sum();
        let signed: i64 = header
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    i64::from(b as i8)
                }
            })
            .sum();
        if stored != unsigned && i64::try_from(stored).ok() != Some(signed) {
            return Err(FormatError::archive(
                "ce n'est pas une archive tar (somme de contrôle d'en-tête fausse)",
            ));
        }
        let mut size = parse_octal(&header[124..136])
            .ok_or_else(|| FormatError::archive("taille illisible dans l'en-tête tar"))?;
        if let Some(s) = pax_size.take() {
            size = s;
        }
        if size > limits.max_total {
            return Err(FormatError::archive(format!(
                "contenu décompressé trop volumineux (plus de {} Mo)",
                limits.max_total / (1024 * 1024)
            )));
        }
        let kind = header[156];
        let name = {
            let n = cstr(&header[0..100]);
            let prefix = if &header[257..262] == b"ustar" {
                cstr(&header[345..500])
            } else {
                &[][..]
            };
            let full = if prefix.is_empty() {
                n.to_vec()
            } else {
                [prefix, b"/", n].concat()
            };
            String::from_utf8(full)
                .map_err(|_| FormatError::archive("nom de fichier illisible (UTF-8 attendu)"))?
        };
        let name = pax_path.take().or_else(|| long_name.take()).unwrap_or(name);
        match kind {
            b'0' | 0 | b'7' | b'x' | b'g' | b'L' => {}
            b'5' => {
                return Err(FormatError::archive(format!(
                    "l'archive contient un dossier : « {name} »"
                )));
            }
            b'1' | b'2' => {
                return Err(FormatError::archive(format!(
                    "l'archive contient un lien : « {name} »"
                )));
            }
            b'K' => {
                return Err(FormatError::archive(
                    "l'archive contient un lien".to_owned(),
                ));
            }
            _ => {
                return Err(FormatError::archive(format!(
                    "l'archive contient un fichier spécial : « {name} »"
                )));
            }
        }
        let padded = size.div_ceil(BLOCK as u64) * BLOCK as u64;
        let mut content =
            Vec::with_capacity(usize::try_from(size.min(16 * 1024 * 1024)).unwrap_or(0));
        let got = (&mut r).take(size).read_to_end(&mut content).map_err(|e| {
            r.exceeded
                .take()
                .unwrap_or_else(|| FormatError::archive(format!("archive illisible ({e})")))
        })?;
        if (got as u64) < size {
            return Err(FormatError::archive("archive tronquée"));
        }
        let mut skip = vec![0u8; usize::try_from(padded - size).unwrap_or(0)];
        if !skip.is_empty() && !read_block(&mut r, &mut skip)? {
            // A missing final padding is tolerated at the very end.
        }
        match kind {
            b'x' => {
                let (path, psize) = parse_pax(&content)?;
                pax_path = path;
                pax_size = psize;
                continue;
            }
            b'g' => continue,
            b'L' => {
                let n = cstr(&content);
                long_name = Some(
                    String::from_utf8(n.to_vec())
                        .map_err(|_| FormatError::archive("nom de fichier illisible"))?,
                );
                continue;
            }
            _ => {}
        }
        let name = name.strip_prefix("./").unwrap_or(&name).to_owned();
        check_name(&name)?;
        if files.iter().any(|(n, _)| *n == name) {
            return Err(FormatError::archive(format!(
                "le fichier « {name} » est en double"
            )));
        }
        if files.len() >= limits.max_files {
            return Err(FormatError::archive(format!(
                "trop de fichiers (plus de {})",
                limits.max_files
            )));
        }
        files.push((name, content));
    }
    if files.is_empty() {
        return Err(FormatError::archive("archive vide"));
    }
    Ok(files)
}

/// Reads the `path` and `size` records of a pax extended header.
fn parse_pax(content: &[u8]) -> Result<(Option<String>, Option<u64>), FormatError> {
    let bad = || FormatError::archive("en-tête pax illisible");
    let mut rest = content;
    let (mut path, mut size) = (None, None);
    while !rest.is_empty() {
        let space = rest.iter().position(|&b| b == b' ').ok_or_else(bad)?;
        let len: usize = std::str::from_utf8(&rest[..space])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(bad)?;
        if len <= space + 1 || len > rest.len() {
            return Err(bad());
        }
        let record = &rest[space + 1..len - 1];
        if let Some(eq) = record.iter().position(|&b| b == b'=') {
            let (k, v) = (&record[..eq], &record[eq + 1..]);
            match k {
                b"path" => path = Some(String::from_utf8(v.to_vec()).map_err(|_| bad())?),
                b"size" => {
                    size = Some(
                        std::str::from_utf8(v)
                            .ok()
                            .and_then(|s| s.parse().ok())
                            .ok_or_else(bad)?,
                    )
                }
                b"linkpath" => return Err(FormatError::archive("l'archive contient un lien")),
                _ => {}
            }
        }
        rest = &rest[len..];
    }
    Ok((path, size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_valid_ustar() {
        let h = header("EACT--213500051--20261207-1.xml", 1234, 1_700_000_000);
        assert_eq!(parse_octal(&h[124..136]), Some(1234));
        assert_eq!(parse_octal(&h[136..148]), Some(1_700_000_000));
        let sum: u64 = h
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    u64::from(b)
                }
            })
            .sum();
        assert_eq!(parse_octal(&h[148..156]), Some(sum));
        assert_eq!(&h[257..263], b"ustar\0");
        assert_eq!(cstr(&h[0..100]), b"EACT--213500051--20261207-1.xml");
    }

    #[test]
    fn names_of_a_flat_archive() {
        assert!(check_name("a.xml").is_ok());
        for bad in [
            "", ".", "..", "../a", "/a", "\\a", "C:a", "a/b", "a\\b", "a\u{1}b",
        ] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn pax_records() {
        let rec = b"29 path=ANO_EACT--1--2-3.xml\n11 size=42\n";
        assert_eq!(
            parse_pax(rec),
            Ok((Some("ANO_EACT--1--2-3.xml".to_owned()), Some(42)))
        );
        assert!(parse_pax(b"99 path=x\n").is_err());
        assert!(parse_pax(b"19 linkpath=/etc/x\n").is_err());
    }
}
