#!/usr/bin/python
"""Ansible module: S3 buckets owned by one user, created through radosgw's S3 API with boto3."""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
---
module: ceph_s3_buckets
short_description: Ensure S3 buckets exist, owned by the user whose keys are given
description:
  - Talks S3 to the gateway with boto3 (path-style addressing), as the owning user, so each bucket belongs to
    that user. Meant to run on the controller (C(delegate_to: localhost)), whose Python has boto3.
  - A bucket name owned by another user fails the task (S3 bucket names are global in a zone).
options:
  endpoint:
    description: S3 endpoint URL, for example C(http://198.18.1.11:7480).
    type: str
    required: true
  access_key:
    description: The owner's S3 access key.
    type: str
    required: true
    no_log: true
  secret_key:
    description: The owner's S3 secret key.
    type: str
    required: true
    no_log: true
  region:
    description: Region name used for request signing.
    type: str
    default: us-east-1
  buckets:
    description: Bucket names.
    type: list
    elements: str
    required: true
  validate_certs:
    description: Verify the endpoint's TLS certificate (https endpoints).
    type: bool
    default: true
requirements: [boto3]
author: GPU platform maintainers
"""

RETURN = r"""
created:
  description: Buckets this run created.
  type: list
  elements: str
  returned: always
"""


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "endpoint": {"type": "str", "required": True},
            "access_key": {"type": "str", "required": True, "no_log": True},
            "secret_key": {"type": "str", "required": True, "no_log": True},
            "region": {"type": "str", "default": "us-east-1"},
            "buckets": {"type": "list", "elements": "str", "required": True},
            "validate_certs": {"type": "bool", "default": True},
        },
        supports_check_mode=True,
    )
    try:
        import boto3
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:
        module.fail_json(
            msg="boto3 is not installed in the Python that runs this module (the controller's "
            "virtualenv has it: run the playbook with the project's .venv)"
        )
    params = module.params
    s3 = boto3.client(
        "s3",
        endpoint_url=params["endpoint"],
        aws_access_key_id=params["access_key"],
        aws_secret_access_key=params["secret_key"],
        region_name=params["region"],
        verify=params["validate_certs"],
        config=Config(
            s3={"addressing_style": "path"},
            connect_timeout=10,
            read_timeout=60,
            retries={"max_attempts": 8, "mode": "standard"},
        ),
    )
    created: list[str] = []
    try:
        owned = {bucket["Name"] for bucket in s3.list_buckets().get("Buckets", [])}
        for name in params["buckets"]:
            if name in owned:
                continue
            if not module.check_mode:
                try:
                    s3.create_bucket(Bucket=name)
                except ClientError as exc:
                    code = exc.response.get("Error", {}).get("Code", "")
                    if code == "BucketAlreadyExists":
                        module.fail_json(
                            msg=f"bucket {name} already belongs to another S3 user at "
                            f"{params['endpoint']}: choose another name",
                            created=created,
                        )
                    raise
            created.append(name)
    except (BotoCoreError, ClientError) as exc:
        module.fail_json(msg=f"S3 request to {params['endpoint']} failed: {exc}", created=created)
    module.exit_json(changed=bool(created), created=created)


if __name__ == "__main__":
    main()
