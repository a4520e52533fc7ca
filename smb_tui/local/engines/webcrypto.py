"""The host side of machine code's `crypto.subtle` for what is not built in JavaScript in
web.js: RSA (RSASSA-PKCS1-v1_5, RSA-PSS, RSA-OAEP), ECDSA and ECDH, AES-CBC and AES-CTR,
PBKDF2 and HKDF, and keys in the spki, pkcs8 and jwk formats, by `cryptography` (OpenSSL).

One entry, `subtle(request)`: a JSON request from web.js, a JSON answer, `{"ok": ...}` or
`{"error": why, "name": DOMException name}`. Binary values travel as base64; an asymmetric
key travels as its DER (`spki` for a public key, `pkcs8` for a private one) and never leaves
the isolate otherwise. Runs in the worker process, never in the server's.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from cryptography.hazmat.primitives.padding import PKCS7

HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "SHA-1": hashes.SHA1,
    "SHA-256": hashes.SHA256,
    "SHA-384": hashes.SHA384,
    "SHA-512": hashes.SHA512,
}
CURVES: dict[str, Callable[[], ec.EllipticCurve]] = {
    "P-256": ec.SECP256R1,
    "P-384": ec.SECP384R1,
    "P-521": ec.SECP521R1,
}
CURVE_NAMES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}  # OpenSSL's
CURVE_BYTES = {"P-256": 32, "P-384": 48, "P-521": 66}
RSA_JWK_ALG = {
    "RSASSA-PKCS1-v1_5": "RS",
    "RSA-PSS": "PS",
}
MAX_RSA_BITS = 8192  # a larger key would hold the worker for minutes
MAX_ITERATIONS = 10_000_000  # PBKDF2: what one event may ask (about 10 s)


class Refused(Exception):
    """What WebCrypto would throw, as a DOMException of `name`."""

    def __init__(self, message: str, name: str = "OperationError") -> None:
        super().__init__(message)
        self.name = name


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: Any) -> bytes:
    return base64.b64decode(str(text))


def _b64url(number_or_bytes: int | bytes, length: int | None = None) -> str:
    raw = (
        number_or_bytes
        if isinstance(number_or_bytes, bytes)
        else number_or_bytes.to_bytes(
            length or max(1, (number_or_bytes.bit_length() + 7) // 8), "big"
        )
    )
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64url(text: Any) -> bytes:
    if not isinstance(text, str):
        raise Refused("a jwk member is not a string", "DataError")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError as error:
        raise Refused(f"a jwk member is not base64url: {error}", "DataError") from error


def _int(text: Any) -> int:
    return int.from_bytes(_unb64url(text), "big")


def _hash(name: Any) -> hashes.HashAlgorithm:
    try:
        return HASHES[str(name).upper()]()
    except KeyError:
        raise Refused(f"unsupported hash {name}", "NotSupportedError") from None


def _curve(name: Any) -> ec.EllipticCurve:
    try:
        return CURVES[str(name)]()
    except KeyError:
        raise Refused(
            f"unsupported curve {name} (P-256, P-384, P-521)", "NotSupportedError"
        ) from None


# --- keys: DER in, DER out


def _load(key: dict[str, Any]) -> Any:
    der = _unb64(key["der"])
    if key["type"] == "private":
        return serialization.load_der_private_key(der, None)
    return serialization.load_der_public_key(der)


def _described(key: Any, private: bool) -> dict[str, Any]:
    """A key as web.js keeps it: its DER and what its `algorithm` shows."""
    if private:
        der = key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        public = key.public_key()
    else:
        der = key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        public = key
    out: dict[str, Any] = {"type": "private" if private else "public", "der": _b64(der)}
    if isinstance(public, rsa.RSAPublicKey):
        numbers = public.public_numbers()
        out["modulusLength"] = numbers.n.bit_length()
        out["publicExponent"] = _b64(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big"))
    elif isinstance(public, ec.EllipticCurvePublicKey):
        out["namedCurve"] = CURVE_NAMES.get(public.curve.name, public.curve.name)
    else:
        raise Refused("the key is neither RSA nor EC", "DataError")
    return out


def _from_jwk(jwk: dict[str, Any], family: str) -> tuple[Any, bool]:
    kty = jwk.get("kty")
    private = "d" in jwk
    if family == "RSA":
        if kty != "RSA":
            raise Refused(f"a jwk of kty {kty!r} for an RSA algorithm", "DataError")
        public = rsa.RSAPublicNumbers(_int(jwk.get("e")), _int(jwk.get("n")))
        if not private:
            return public.public_key(), False
        numbers = rsa.RSAPrivateNumbers(
            _int(jwk.get("p")),
            _int(jwk.get("q")),
            _int(jwk.get("d")),
            _int(jwk.get("dp")),
            _int(jwk.get("dq")),
            _int(jwk.get("qi")),
            public,
        )
        return numbers.private_key(), True
    if kty != "EC":
        raise Refused(f"a jwk of kty {kty!r} for an EC algorithm", "DataError")
    curve = _curve(jwk.get("crv"))
    point = ec.EllipticCurvePublicNumbers(_int(jwk.get("x")), _int(jwk.get("y")), curve)
    if not private:
        return point.public_key(), False
    return ec.EllipticCurvePrivateNumbers(_int(jwk.get("d")), point).private_key(), True


def _to_jwk(key: Any, private: bool, algorithm: dict[str, Any]) -> dict[str, Any]:
    public = key.public_key() if private else key
    if isinstance(public, rsa.RSAPublicKey):
        numbers = public.public_numbers()
        jwk: dict[str, Any] = {"kty": "RSA", "n": _b64url(numbers.n), "e": _b64url(numbers.e)}
        if private:
            p = key.private_numbers()
            jwk.update(
                d=_b64url(p.d), p=_b64url(p.p), q=_b64url(p.q), dp=_b64url(p.dmp1),
                dq=_b64url(p.dmq1), qi=_b64url(p.iqmp),
            )  # fmt: skip
        name, bits = algorithm["name"], str(algorithm.get("hash", "SHA-256"))[4:]
        if name == "RSA-OAEP":
            jwk["alg"] = "RSA-OAEP" if bits == "1" else f"RSA-OAEP-{bits}"
        elif name in RSA_JWK_ALG:
            jwk["alg"] = f"{RSA_JWK_ALG[name]}{bits}"
        return jwk
    numbers = public.public_numbers()
    crv = algorithm["namedCurve"]
    size = CURVE_BYTES[crv]
    jwk = {"kty": "EC", "crv": crv, "x": _b64url(numbers.x, size), "y": _b64url(numbers.y, size)}
    if private:
        jwk["d"] = _b64url(key.private_numbers().private_value, size)
    return jwk


def _import(request: dict[str, Any]) -> dict[str, Any]:
    form, family = request["format"], request["family"]
    try:
        if form == "jwk":
            key, private = _from_jwk(request["keyData"], family)
        elif form == "spki":
            key, private = serialization.load_der_public_key(_unb64(request["keyData"])), False
        elif form == "pkcs8":
            key, private = (
                serialization.load_der_private_key(_unb64(request["keyData"]), None),
                True,
            )
        elif form == "raw" and family == "EC":
            curve = _curve(request.get("namedCurve"))
            key = ec.EllipticCurvePublicKey.from_encoded_point(curve, _unb64(request["keyData"]))
            private = False
        else:
            raise Refused(f'importKey: "{form}" keys are not for {family}', "NotSupportedError")
    except (ValueError, TypeError) as error:
        raise Refused(
            f"importKey: the key data is not a valid key: {error}", "DataError"
        ) from error
    wanted = rsa.RSAPublicKey if family == "RSA" else ec.EllipticCurvePublicKey
    if not isinstance(key.public_key() if private else key, wanted):
        raise Refused(f"importKey: the key is not an {family} key", "DataError")
    described = _described(key, private)
    if family == "EC" and request.get("namedCurve") not in (None, described["namedCurve"]):
        raise Refused("importKey: the key's curve is not the namedCurve asked", "DataError")
    return described


def _export(request: dict[str, Any]) -> Any:
    key = request["key"]
    loaded, private = _load(key), key["type"] == "private"
    form = request["format"]
    if form == "jwk":
        return _to_jwk(loaded, private, request["algorithm"])
    if form == "spki" and not private:
        return key["der"]
    if form == "pkcs8" and private:
        return key["der"]
    if form == "raw" and not private and isinstance(loaded, ec.EllipticCurvePublicKey):
        return _b64(
            loaded.public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
            )
        )
    raise Refused(f'exportKey: a {key["type"]} key has no "{form}" form', "InvalidAccessError")


def _generate(request: dict[str, Any]) -> dict[str, Any]:
    if request["family"] == "RSA":
        bits = int(request.get("modulusLength", 0))
        exponent = int.from_bytes(_unb64(request.get("publicExponent", "AQAB")), "big")
        if not 1024 <= bits <= MAX_RSA_BITS or bits % 8:
            raise Refused(f"generateKey: modulusLength from 1024 to {MAX_RSA_BITS} bits")
        if exponent not in (3, 65537):
            raise Refused("generateKey: publicExponent 3 or 65537")
        private_key: Any = rsa.generate_private_key(exponent, bits)
    else:
        private_key = ec.generate_private_key(_curve(request.get("namedCurve")))
    return {
        "privateKey": _described(private_key, True),
        "publicKey": _described(private_key.public_key(), False),
    }


def _rsa_padding(algorithm: dict[str, Any], hash_name: str) -> padding.AsymmetricPadding:
    if algorithm["name"] == "RSA-PSS":
        salt = int(algorithm.get("saltLength", 0))
        return padding.PSS(mgf=padding.MGF1(_hash(hash_name)), salt_length=salt)
    return padding.PKCS1v15()


def _sign(request: dict[str, Any]) -> str:
    algorithm, key = request["algorithm"], _load(request["key"])
    data = _unb64(request["data"])
    if algorithm["name"] == "ECDSA":
        der = key.sign(data, ec.ECDSA(_hash(algorithm.get("hash"))))
        r, s = utils.decode_dss_signature(der)
        size = CURVE_BYTES[request["namedCurve"]]
        return _b64(r.to_bytes(size, "big") + s.to_bytes(size, "big"))
    hash_name = request["keyHash"]
    return _b64(key.sign(data, _rsa_padding(algorithm, hash_name), _hash(hash_name)))


def _verify(request: dict[str, Any]) -> bool:
    algorithm, key = request["algorithm"], _load(request["key"])
    data, signature = _unb64(request["data"]), _unb64(request["signature"])
    try:
        if algorithm["name"] == "ECDSA":
            size = CURVE_BYTES[request["namedCurve"]]
            if len(signature) != 2 * size:
                return False
            der = utils.encode_dss_signature(
                int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")
            )
            key.verify(der, data, ec.ECDSA(_hash(algorithm.get("hash"))))
        else:
            hash_name = request["keyHash"]
            key.verify(signature, data, _rsa_padding(algorithm, hash_name), _hash(hash_name))
    except InvalidSignature:
        return False
    return True


def _crypt(request: dict[str, Any]) -> str:
    algorithm, operation = request["algorithm"], request["operation"]
    data = _unb64(request["data"])
    name = algorithm["name"]
    if name == "RSA-OAEP":
        key = _load(request["key"])
        hash_name = request["keyHash"]
        label = _unb64(algorithm["label"]) if algorithm.get("label") else None
        oaep = padding.OAEP(
            mgf=padding.MGF1(_hash(hash_name)), algorithm=_hash(hash_name), label=label
        )
        try:
            out = key.encrypt(data, oaep) if operation == "encrypt" else key.decrypt(data, oaep)
        except ValueError as error:
            raise Refused(
                f"{operation}: {error or 'the data cannot be decrypted with this key'}"
            ) from error
        return _b64(out)
    secret = _unb64(request["secret"])
    if name == "AES-CBC":
        iv = _unb64(algorithm.get("iv", ""))
        if len(iv) != 16:
            raise Refused(f"{operation}: an AES-CBC iv is 16 bytes")
        cipher = Cipher(algorithms.AES(secret), modes.CBC(iv))
        if operation == "encrypt":
            padder = PKCS7(128).padder()
            padded = padder.update(data) + padder.finalize()
            encryptor = cipher.encryptor()
            return _b64(encryptor.update(padded) + encryptor.finalize())
        decryptor = cipher.decryptor()
        try:
            padded = decryptor.update(data) + decryptor.finalize()
            unpadder = PKCS7(128).unpadder()
            return _b64(unpadder.update(padded) + unpadder.finalize())
        except ValueError as error:
            raise Refused("decrypt: the data is not AES-CBC with this key and iv") from error
    if name == "AES-CTR":
        counter = _unb64(algorithm.get("counter", ""))
        length = int(algorithm.get("length", 0))
        if len(counter) != 16 or not 1 <= length <= 128:
            raise Refused(f"{operation}: an AES-CTR counter is 16 bytes, its length 1 to 128 bits")
        if length < 128 and len(data) > 16 * (
            2**length - int.from_bytes(counter, "big") % 2**length
        ):
            raise Refused(f"{operation}: the counter would wrap", "OperationError")
        crypt = Cipher(algorithms.AES(secret), modes.CTR(counter)).encryptor()
        return _b64(crypt.update(data) + crypt.finalize())
    raise Refused(f"{operation}: unsupported algorithm {name}", "NotSupportedError")


def _derive(request: dict[str, Any]) -> str:
    algorithm, bits = request["algorithm"], request["length"]
    name = algorithm["name"]
    if bits is None or int(bits) % 8:
        raise Refused("deriveBits: a length in whole bytes")
    length = int(bits) // 8
    if name == "ECDH":
        private, public = _load(request["key"]), _load(algorithm["public"])
        shared = private.exchange(ec.ECDH(), public)
        if length > len(shared):
            raise Refused("deriveBits: longer than the shared secret")
        return _b64(shared[:length])
    secret = _unb64(request["secret"])
    if name == "PBKDF2":
        iterations = int(algorithm.get("iterations", 0))
        if not 1 <= iterations <= MAX_ITERATIONS:
            raise Refused(f"deriveBits: iterations from 1 to {MAX_ITERATIONS}")
        kdf: Any = PBKDF2HMAC(
            _hash(algorithm.get("hash")), length, _unb64(algorithm.get("salt", "")), iterations
        )
    elif name == "HKDF":
        kdf = HKDF(
            _hash(algorithm.get("hash")),
            length,
            _unb64(algorithm.get("salt", "")),
            _unb64(algorithm.get("info", "")),
        )
    else:
        raise Refused(f"deriveBits: unsupported algorithm {name}", "NotSupportedError")
    try:
        return _b64(kdf.derive(secret))
    except ValueError as error:
        raise Refused(f"deriveBits: {error}") from error


OPERATIONS = {
    "import": _import,
    "export": _export,
    "generate": _generate,
    "sign": _sign,
    "verify": _verify,
    "crypt": _crypt,
    "derive": _derive,
}


async def subtle(request: Any) -> str:
    """web.js's call: JSON in, JSON out (see the module's docstring)."""
    asked = json.loads(str(request))
    try:
        return json.dumps({"ok": OPERATIONS[asked["op"]](asked)})
    except Refused as refused:
        return json.dumps({"error": str(refused), "name": refused.name})
    except Exception as error:  # whatever machine code asked, it gets an answer
        return json.dumps({"error": f"{asked.get('op')}: {error}", "name": "OperationError"})
