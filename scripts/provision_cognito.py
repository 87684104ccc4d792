#!/usr/bin/env python3
"""Provision the local Cognito endpoint (moto) for Mentorcast.

    provision_cognito.py --endpoint http://127.0.0.1:PORT --stack-dir DIR

Creates a user pool, an app client without a secret (the CLI's) and one with a
secret, the groups mentor/mentee/admin and these users (fresh random passwords
on every run):

    mentor1, mentor2   group mentor
    mentee1, mentee2   group mentee
    admin1             group admin
    newmentor          group mentor, temporary password (FORCE_CHANGE_PASSWORD)
    mfamentor          group mentor, TOTP MFA enabled and preferred
    disabled1          group mentor, disabled

Writes DIR/users.json (keyed by username: password, groups, email, and
`temporary`, `totp_secret`, `disabled` where they apply; mode 0600) and appends
a [cognito] section to DIR/config.toml (the file scripts/stack.sh writes; it is
replaced atomically through a tmp file). Dummy AWS credentials: moto does not
check them. Idempotence is the caller's business: scripts/stack.sh runs this
once per moto start, against a fresh moto.
"""

import argparse
import base64
import hashlib
import hmac
import json
import os
import secrets
import struct
import sys
import time

import boto3

REGION = "us-east-1"
GROUPS = ["mentor", "mentee", "admin"]
POLICY = {
    "MinimumLength": 10,
    "RequireUppercase": True,
    "RequireLowercase": True,
    "RequireNumbers": True,
    "RequireSymbols": True,
    "TemporaryPasswordValidityDays": 7,
}


def new_password():
    # satisfies POLICY: length >= 10, upper, lower, digit, symbol
    return "Mc-" + secrets.token_hex(6) + "!7Qa"


def totp(secret_b32, at=None, step=30, digits=6):
    key = base64.b32decode(secret_b32.upper() + "=" * (-len(secret_b32) % 8))
    counter = int((time.time() if at is None else at) // step)
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    off = mac[-1] & 0x0F
    code = (struct.unpack(">I", mac[off:off + 4])[0] & 0x7FFFFFFF) % (10 ** digits)
    return str(code).zfill(digits)


def toml_str(s):
    return json.dumps(s)  # a JSON string is a valid TOML basic string for our values


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--stack-dir", required=True)
    args = ap.parse_args()

    idp = boto3.client(
        "cognito-idp",
        region_name=REGION,
        endpoint_url=args.endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )

    pool = idp.create_user_pool(
        PoolName="mentorcast-local",
        Policies={"PasswordPolicy": POLICY},
        MfaConfiguration="OFF",
        AutoVerifiedAttributes=["email"],
    )["UserPool"]
    pool_id = pool["Id"]
    idp.set_user_pool_mfa_config(
        UserPoolId=pool_id,
        SoftwareTokenMfaConfiguration={"Enabled": True},
        MfaConfiguration="OPTIONAL",
    )
    flows = ["ALLOW_USER_SRP_AUTH", "ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]
    client = idp.create_user_pool_client(
        UserPoolId=pool_id, ClientName="mentorcast-cli", GenerateSecret=False,
        ExplicitAuthFlows=flows, EnableTokenRevocation=True, ReadAttributes=["email", "email_verified"],
    )["UserPoolClient"]
    secret_client = idp.create_user_pool_client(
        UserPoolId=pool_id, ClientName="mentorcast-cli-secret", GenerateSecret=True,
        ExplicitAuthFlows=flows, EnableTokenRevocation=True, ReadAttributes=["email", "email_verified"],
    )["UserPoolClient"]
    for g in GROUPS:
        idp.create_group(UserPoolId=pool_id, GroupName=g)

    users = {}

    def create(name, groups, permanent=True):
        pw = new_password()
        email = f"{name}@mentorcast.test"
        idp.admin_create_user(
            UserPoolId=pool_id, Username=name, TemporaryPassword=pw, MessageAction="SUPPRESS",
            UserAttributes=[{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}],
        )
        if permanent:
            idp.admin_set_user_password(UserPoolId=pool_id, Username=name, Password=pw, Permanent=True)
        for g in groups:
            idp.admin_add_user_to_group(UserPoolId=pool_id, Username=name, GroupName=g)
        users[name] = {"password": pw, "groups": groups, "email": email}
        return pw

    create("mentor1", ["mentor"])
    create("mentor2", ["mentor"])
    create("mentee1", ["mentee"])
    create("mentee2", ["mentee"])
    create("admin1", ["admin"])
    create("newmentor", ["mentor"], permanent=False)
    users["newmentor"]["temporary"] = True

    pw = create("mfamentor", ["mentor"])
    auth = idp.initiate_auth(
        ClientId=client["ClientId"], AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "mfamentor", "PASSWORD": pw},
    )["AuthenticationResult"]
    secret = idp.associate_software_token(AccessToken=auth["AccessToken"])["SecretCode"]
    status = idp.verify_software_token(AccessToken=auth["AccessToken"], UserCode=totp(secret))["Status"]
    if status != "SUCCESS":
        sys.exit(f"provision: verify_software_token for mfamentor said {status}")
    idp.admin_set_user_mfa_preference(
        UserPoolId=pool_id, Username="mfamentor",
        SoftwareTokenMfaSettings={"Enabled": True, "PreferredMfa": True},
    )
    idp.global_sign_out(AccessToken=auth["AccessToken"])
    users["mfamentor"]["totp_secret"] = secret

    create("disabled1", ["mentor"])
    idp.admin_disable_user(UserPoolId=pool_id, Username="disabled1")
    users["disabled1"]["disabled"] = True

    os.makedirs(args.stack_dir, exist_ok=True)
    users_path = os.path.join(args.stack_dir, "users.json")
    tmp = users_path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(users, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, users_path)

    endpoint = args.endpoint.rstrip("/")
    section = f"""[cognito]
region = {toml_str(REGION)}
user_pool_id = {toml_str(pool_id)}
client_id = {toml_str(client["ClientId"])}
endpoint = {toml_str(endpoint)}
jwks_url = {toml_str(f"{endpoint}/{pool_id}/.well-known/jwks.json")}
auth_flow = "srp"
# the pool's password policy (DescribeUserPool needs AWS credentials a mentor's machine has not)
[cognito.password_policy]
minimum_length = {POLICY["MinimumLength"]}
require_uppercase = true
require_lowercase = true
require_numbers = true
require_symbols = true
# a second app client of the same pool, with a client secret (SECRET_HASH)
[cognito.secret_client]
client_id = {toml_str(secret_client["ClientId"])}
client_secret = {toml_str(secret_client["ClientSecret"])}
"""
    config_path = os.path.join(args.stack_dir, "config.toml")
    base = ""
    if os.path.exists(config_path):
        with open(config_path) as f:
            base = f.read()
        # re-provisioning replaces an earlier [cognito] section (always written last)
        cut = base.find("[cognito]")
        if cut >= 0:
            base = base[:cut]
        if base and not base.endswith("\n"):
            base += "\n"
    tmp = config_path + ".tmp"
    with open(tmp, "w") as f:
        f.write(base + section)
    os.replace(tmp, config_path)
    print(f"provision: pool {pool_id}, client {client['ClientId']}, {len(users)} users -> {users_path}")


if __name__ == "__main__":
    main()
