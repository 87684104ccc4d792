#!/usr/bin/env python3
"""Derives the SRP test vectors in crates/auth/src/srp.rs from pycognito's AWSSRP
(PyPI pycognito 2024.5.1, a published reference implementation of Cognito's
USER_SRP_AUTH), with fixed a, b, salt, secret block and timestamp.

    .venv/bin/pip install pycognito==2024.5.1
    .venv/bin/python crates/auth/testdata/srp_vectors.py

It also checks the protocol from the server's side (S computed as (A·v^u)^b
with the verifier v = g^x) so the vectors are not just pycognito agreeing with
itself. Not run by the test suite: its output is pasted into srp.rs.
"""
import base64
import datetime
import hashlib

import boto3
from pycognito import aws_srp
from pycognito.aws_srp import AWSSRP, N_HEX, G_HEX, hex_to_long, hex_hash, pad_hex, calculate_u

POOL_ID = "eu-west-1_Ab12Cd34E"
CLIENT_ID = "4sqv0bqj1ntm0ki7es7ocpgm6b"
CLIENT_SECRET = "1mk2c1t7eke7h4e9v0mcpfrlegk34lm1bk4g0b3b5dfgt0k2sjq"
USER_ID_FOR_SRP = "mentor1"
PASSWORD = "Mc-Correct-Horse-9!"
A_SMALL = int("7a0f1d2c3b4e5f60718293a4b5c6d7e8f90112233445566778899aabbccddeeff" * 8, 16)
B_SMALL = int("1234567890abcdef" * 16, 16)
SALT_HEX = "5f3e2d1c0b0a99887766554433221100"
SECRET_BLOCK = base64.b64encode(bytes(range(64)) * 3).decode()
WHEN = datetime.datetime(2024, 3, 7, 9, 5, 3)

class FixedDatetime(datetime.datetime):
    @classmethod
    def utcnow(cls):
        return WHEN

srp = AWSSRP(USER_ID_FOR_SRP, PASSWORD, POOL_ID, CLIENT_ID, client=boto3.client("cognito-idp", region_name="eu-west-1"), client_secret=CLIENT_SECRET)
srp.small_a_value = A_SMALL
srp.large_a_value = srp.calculate_a()
N, g, k = srp.big_n, srp.val_g, srp.val_k

# server side: verifier and B = k·v + g^b
x = hex_to_long(hex_hash(pad_hex(SALT_HEX) + hashlib.sha256(f"{POOL_ID.split('_')[1]}{USER_ID_FOR_SRP}:{PASSWORD}".encode()).hexdigest()))
v = pow(g, x, N)
B = (k * v + pow(g, B_SMALL, N)) % N
u = calculate_u(srp.large_a_value, B)
S_server = pow(srp.large_a_value * pow(v, u, N), B_SMALL, N)

hkdf = srp.get_password_authentication_key(USER_ID_FOR_SRP, PASSWORD, B, SALT_HEX)
S_client = pow(B - k * pow(g, x, N), A_SMALL + u * x, N)
assert S_client == S_server, "SRP math disagrees with the server side"

aws_srp.datetime.datetime = FixedDatetime
resp = srp.process_challenge({"USER_ID_FOR_SRP": USER_ID_FOR_SRP, "USERNAME": USER_ID_FOR_SRP, "SALT": SALT_HEX, "SRP_B": f"{B:x}", "SECRET_BLOCK": SECRET_BLOCK}, {"USERNAME": USER_ID_FOR_SRP})

print("k        =", f"{k:x}")
print("a        =", f"{A_SMALL:x}")
print("A        =", f"{srp.large_a_value:x}")
print("B        =", f"{B:x}")
print("u        =", f"{u:x}")
print("x        =", f"{x:x}")
print("S        =", f"{S_server:x}")
print("hkdf     =", hkdf.hex())
print("timestamp=", resp["TIMESTAMP"])
print("signature=", resp["PASSWORD_CLAIM_SIGNATURE"])
print("secret_hash=", resp["SECRET_HASH"])
print("secret_block=", SECRET_BLOCK)
