"""Extract the RFC 7515 / 7517 / 7520 JWS vectors from jwcrypto's test modules.

Usage (from this directory):
    pip download --no-deps --no-binary :all: jwcrypto==1.6.1 -d /tmp/jwc
    tar xzf /tmp/jwc/jwcrypto-1.6.1.tar.gz -C /tmp/jwc
    python3 extract_jwcrypto.py /tmp/jwc/jwcrypto-1.6.1/jwcrypto

Only literal assignments are evaluated (no jwcrypto code runs). Private key members are
dropped: the gateway only verifies.
"""
import ast
import base64
import json
import sys

PRIVATE = {"d", "p", "q", "dp", "dq", "qi"}


def b64u(data):
    return base64.urlsafe_b64encode(bytes(data)).rstrip(b"=").decode()


def b64u_decode(s):
    s = s if isinstance(s, str) else s.decode()
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def constants(path):
    tree = ast.parse(open(path, encoding="utf-8").read())
    ns = {"base64url_decode": b64u_decode, "bytearray": bytearray, "bytes": bytes}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name):
                try:
                    ns[target.id] = eval(compile(ast.Expression(node.value), path, "eval"), ns)
                except Exception:  # noqa: BLE001 - anything needing jwcrypto is skipped
                    pass
    return ns


def public(jwk):
    return {k: v for k, v in jwk.items() if k not in PRIVATE}


def main(src):
    t = constants(f"{src}/tests.py")
    rfc7515 = {
        "source": "jwcrypto 1.6.1 jwcrypto/tests.py (RFC 7515 Appendix A and E, RFC 7517 Appendix A)",
        "rfc7517_public_keys": t["PublicKeys"]["keys"],
        "rfc7517_symmetric_keys": t["SymmetricKeys"]["keys"],
        "examples": [],
        "negative_crit_E": t["E_negative"],
    }
    for name in ["A1", "A2", "A3", "A4", "A5"]:
        ex = t[f"{name}_example"]
        protected = ex["protected"].encode() if isinstance(ex["protected"], str) else ex["protected"]
        rfc7515["examples"].append({
            "name": f"RFC 7515 {name[0]}.{name[1]}",
            "alg": ex["alg"],
            "jwk": public(ex["key"]),
            "compact": f"{b64u(protected)}.{b64u(ex['payload'])}.{b64u(ex['signature'])}",
        })
    c = constants(f"{src}/tests-cookbook.py")
    rfc7520 = {
        "source": "jwcrypto 1.6.1 jwcrypto/tests-cookbook.py (RFC 7520 sections 3 and 4)",
        "payload_b64": c["Payload_plaintext_b64_4"],
        "keys": {
            "3.1_ec_p521_public": c["EC_Public_Key_3_1"],
            "3.3_rsa_public": c["RSA_Public_Key_3_3"],
            "3.5_hmac": c["Symmetric_Key_MAC_3_5"],
            "3.6_aes_enc": c["Symmetric_Key_Enc_3_6"],
        },
        "signatures": [],
    }
    def sig(section, protected, unprotected, signature, key):
        rfc7520["signatures"].append({
            "section": section,
            "protected": protected,
            "unprotected": unprotected,
            "signature": signature,
            "key": key,
        })
    sig("4.1", c["JWS_Protected_Header_4_1_2"], None, c["JWS_Signature_4_1_2"], "3.3_rsa_public")
    sig("4.2", c["JWS_Protected_Header_4_2_2"], None, c["JWS_Signature_4_2_2"], "3.3_rsa_public")
    sig("4.3", c["JWS_Protected_Header_4_3_2"], None, c["JWS_Signature_4_3_2"], "3.1_ec_p521_public")
    sig("4.4", c["JWS_Protected_Header_4_4_2"], None, c["JWS_Signature_4_4_2"], "3.5_hmac")
    sig("4.6", c["JWS_Protected_Header_4_6_2"], c["JWS_Unprotected_Header_4_6_2"], c["JWS_Signature_4_6_2"], "3.5_hmac")
    sig("4.7", "", c["JWS_Unprotected_Header_4_7_2"], c["JWS_Signature_4_7_2"], "3.5_hmac")
    sig("4.8.2", c["JWS_Protected_Header_4_8_2"], c["JWS_Unprotected_Header_4_8_2"], c["JWS_Signature_4_8_2"], "3.3_rsa_public")
    sig("4.8.3", "", c["JWS_Unprotected_Header_4_8_3"], c["JWS_Signature_4_8_3"], "3.1_ec_p521_public")
    sig("4.8.4", c["JWS_Protected_Header_4_8_4"], None, c["JWS_Signature_4_8_4"], "3.5_hmac")
    with open("rfc7515_jwcrypto.json", "w") as f:
        json.dump(rfc7515, f, indent=2)
        f.write("\n")
    with open("rfc7520_jwcrypto.json", "w") as f:
        json.dump(rfc7520, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
