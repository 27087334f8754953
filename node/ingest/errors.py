"""Why an upload was refused: stable codes for the gateway to map, messages for people."""


class IngestRefused(Exception):
    """Nothing of the upload was kept (a pending record at most, which reconcile ends)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


BAD_CLAIMS = "BAD_CLAIMS"  # malformed or oversized claims document
BAD_SIGNATURE = "BAD_SIGNATURE"  # the claims were not signed by the presented certificate
UNKNOWN_DEVICE = "UNKNOWN_DEVICE"  # the certificate was not issued by this department's CA
NOT_A_DEVICE = "NOT_A_DEVICE"  # issued, but not with the device role
NOT_AN_OFFICER = "NOT_AN_OFFICER"  # an officer's capture signed by another role
NOT_CASE_STAFF = "NOT_CASE_STAFF"  # a case document signed by neither officer nor reviewer
CERT_NOT_VALID = "CERT_NOT_VALID"  # outside the certificate's validity period
DEVICE_MISMATCH = "DEVICE_MISMATCH"  # signed by one device (or officer) in another's name
WRONG_ORG = "WRONG_ORG"  # claims for another department
MEDIA_MISMATCH = "MEDIA_MISMATCH"  # a file differs from what the device signed
UNKNOWN_MEDIA = "UNKNOWN_MEDIA"  # a file the claims do not name, or a named file missing
TOO_LARGE = "TOO_LARGE"  # over the configured per-item limit
