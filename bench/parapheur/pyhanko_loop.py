"""pyHanko's side of bench/parapheur: PAdES B-T signing of every PDF of a folder, in process,
at its fastest.

- the key and certificates are loaded once (SimpleSigner.load);
- bytes_reserved is set, so pyHanko skips its dry-run signature (the size estimate);
- one asyncio loop and one aiohttp.ClientSession for the whole loop, handed to
  HTTPTimeStamper: the connection to the TSA is kept alive, like the Bouquet client's
  (without a session, pyHanko opens and closes a session for every time-stamp);
- one PdfSigner for all documents.

With CACHED_KEY=1, the signer also keeps its key imported in OpenSSL: stock SimpleSigner
re-imports it (serialization.load_der_private_key, RSA key checks included) for every
signature, which is most of its time per document. Not pyHanko's API as shipped: an extra
line of the bench, to show what that costs.

Usage: pyhanko_loop.py KEYS_DIR IN_DIR OUT_DIR TSA_URL [WARMUP]
KEYS_DIR holds key.pem, signer.pem and root.pem (written by `pades_bench issue`).
Prints "RESULT docs=… seconds=… docs_per_s=…" (and a cProfile summary if PROFILE=1).
"""

import asyncio
import os
import sys
import time
import types

import aiohttp
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.timestamps import HTTPTimeStamper
from pyhanko_certvalidator.util import get_pyca_cryptography_hash

# Same room as Bouquet's 16,384 DER bytes: pyHanko counts hexadecimal digits.
BYTES_RESERVED = 2 * 16_384


async def sign_all(keys, inputs, out_dir, tsa_url, warmup):
    signer = signers.SimpleSigner.load(
        os.path.join(keys, "key.pem"),
        os.path.join(keys, "signer.pem"),
        ca_chain_files=(os.path.join(keys, "root.pem"),),
    )
    if signer is None:
        sys.exit("pyHanko could not load the key")
    if os.environ.get("CACHED_KEY") == "1":
        keep_key_imported(signer)
    async with aiohttp.ClientSession() as session:
        timestamper = HTTPTimeStamper(tsa_url, session=session)
        pdf_signer = signers.PdfSigner(
            signers.PdfSignatureMetadata(
                field_name="Signature1",
                subfilter=fields.SigSeedSubFilter.PADES,
                md_algorithm="sha256",
                reason="Bench parapheur",
            ),
            signer=signer,
            timestamper=timestamper,
        )

        async def sign(path, out_path):
            with open(path, "rb") as inf, open(out_path, "wb") as outf:
                writer = IncrementalPdfFileWriter(inf)
                await pdf_signer.async_sign_pdf(
                    writer, bytes_reserved=BYTES_RESERVED, output=outf
                )

        warm = os.path.join(out_dir, "warmup.pdf.tmp")
        for path in inputs[:warmup]:
            await sign(path, warm)
        if os.path.exists(warm):
            os.remove(warm)

        start = time.perf_counter()
        for path in inputs:
            await sign(path, os.path.join(out_dir, os.path.basename(path)))
        return time.perf_counter() - start


def keep_key_imported(signer):
    """Replaces signer.sign_raw by one that imports the key into OpenSSL once (PKCS#1 v1.5
    only, the mechanism of this bench; anything else goes to pyHanko's own)."""
    key = serialization.load_der_private_key(signer.signing_key.dump(), password=None)
    stock = signer.sign_raw

    def sign_raw(self, data, digest_algorithm):
        mechanism = self.get_signature_mechanism_for_digest(digest_algorithm)
        if mechanism.signature_algo != "rsassa_pkcs1v15":
            return stock(data, digest_algorithm)
        return key.sign(data, PKCS1v15(), get_pyca_cryptography_hash(digest_algorithm))

    signer.sign_raw = types.MethodType(sign_raw, signer)


def main():
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    keys, in_dir, out_dir, tsa_url = sys.argv[1:5]
    warmup = int(sys.argv[5]) if len(sys.argv) > 5 else 3
    inputs = sorted(
        os.path.join(in_dir, f) for f in os.listdir(in_dir) if f.endswith(".pdf")
    )
    os.makedirs(out_dir, exist_ok=True)
    run = lambda: asyncio.run(sign_all(keys, inputs, out_dir, tsa_url, warmup))
    if os.environ.get("PROFILE") == "1":
        import cProfile
        import pstats

        profile = cProfile.Profile()
        elapsed = profile.runcall(run)
        pstats.Stats(profile, stream=sys.stderr).sort_stats("cumulative").print_stats(25)
    else:
        elapsed = run()
    n = len(inputs)
    print(f"RESULT docs={n} seconds={elapsed:.3f} docs_per_s={n / elapsed:.2f}")


if __name__ == "__main__":
    main()
