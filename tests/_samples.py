"""
Bodies the service really sends: the spec's verbatim examples and the recordings.

Examples A, B and C are copied from nh-rest-api.md §4.6 and the error bodies from
§9.2, byte for byte. The recordings come from ../shared/reference/recorded (beside
the repository) when that folder exists; tests built on them are skipped without it,
except in CI, where they fail.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# shared/ sits beside the repository (in CI too); NOTIFHUB_RECORDED overrides it.
RECORDED = Path(
    os.environ.get(
        "NOTIFHUB_RECORDED",
        Path(__file__).resolve().parents[2] / "shared" / "reference" / "recorded",
    )
)

# Example A: two results, one failed and one delivered.
EXAMPLE_A = b"""\
<NotificationOutcome xmlns:i="http://www.w3.org/2001/XMLSchema-instance" \
xmlns="http://schemas.microsoft.com/netservices/2010/10/servicebus/connect">
  <Success>1</Success>
  <Failure>1</Failure>
  <Results>
    <RegistrationResult>
      <ApplicationPlatform>apple</ApplicationPlatform>
      <PnsHandle>00FC13ADFF785122B4AD28809A3420982341241421348097878E577C991DE8F0\
</PnsHandle>
      <RegistrationId>849523884231660601-248604613279522266-3</RegistrationId>
      <Outcome>The Push Notification System handle for the registration is invalid\
</Outcome>
    </RegistrationResult>
    <RegistrationResult>
      <ApplicationPlatform>apple</ApplicationPlatform>
      <PnsHandle>7603CF2F5537AADF272DEA23B4FB4D33B56F0F8FE697F57777EC459594910786\
</PnsHandle>
      <RegistrationId>282625459606590828-2679902039720441464-3</RegistrationId>
      <Outcome>The Notification was successfully sent to the Push Notification System\
</Outcome>
    </RegistrationResult>
  </Results>
</NotificationOutcome>"""

# Example B: nothing matched, `<Results />`.
EXAMPLE_B = b"""\
<NotificationOutcome xmlns:i="http://www.w3.org/2001/XMLSchema-instance" \
xmlns="http://schemas.microsoft.com/netservices/2010/10/servicebus/connect">
  <Success>0</Success>
  <Failure>0</Failure>
  <Results />
</NotificationOutcome>"""

# Example C: nothing matched, `<Results i:nil="true"/>`, all on one line.
EXAMPLE_C = (
    b'<NotificationOutcome xmlns="http://schemas.microsoft.com/netservices/2010/10/'
    b'servicebus/connect" xmlns:i="http://www.w3.org/2001/XMLSchema-instance">'
    b'<Success>0</Success><Failure>0</Failure><Results i:nil="true"/>'
    b"</NotificationOutcome>"
)

ERROR_404_DETAIL = (
    ".TrackingId:26fc2cbf-708c-4243-b868-fd9037ba6ab5_G6,"
    "TimeStamp:11/7/2018 12:18:30 AM"
)
ERROR_404 = (
    f"<Error><Code>404</Code><Detail>{ERROR_404_DETAIL}</Detail></Error>"
).encode()

ERROR_400_DETAIL = (
    "The HTTP header 'ServiceBusNotification-Format' has an invalid value: "
    "'fcmlegacy'. Allowed values are 'windows', 'apple', 'gcm', 'template', 'adm', "
    "or 'windowsphone'."
)
ERROR_400 = (
    f"<Error>\n    <Code>400</Code>\n    <Detail>{ERROR_400_DETAIL}</Detail>\n</Error>"
).encode()

# A comma right before a closing bracket: the one flaw of the non-strict file.
_TRAILING_COMMA = re.compile(r",(\s*[}\]])")
_DETAIL = re.compile(r"<Detail>(.*?)</Detail>", re.DOTALL)


@dataclass(frozen=True)
class RecordedError:
    """One recorded error response of the real service."""

    scenario: str
    status_code: int
    headers: dict[str, str]
    body: bytes

    @property
    def detail_in_body(self) -> str | None:
        """The Detail text, found with a plain regex rather than an XML parser."""
        match = _DETAIL.search(self.body.decode("utf-8"))
        return match.group(1) if match else None


def load_recording(path: Path) -> dict[str, Any]:
    """One recording; tolerates the trailing commas of the non-strict file."""
    text = path.read_text("utf-8")
    try:
        document: dict[str, Any] = json.loads(text)
    except json.JSONDecodeError:
        document = json.loads(_TRAILING_COMMA.sub(r"\1", text))

    return document


def recorded_errors() -> list[RecordedError]:
    """
    Every recorded response with a 4xx or 5xx status, in file-name order.

    None without the recordings, except in CI (CI set), where shared/ is always
    beside the checkout and a missing folder must fail the run.
    """
    if not RECORDED.is_dir():
        if os.environ.get("CI"):
            raise RuntimeError(f"the reference recordings are not at {RECORDED}")

        return []

    errors: list[RecordedError] = []
    for path in sorted(RECORDED.glob("*.json")):
        for call in load_recording(path)["HttpCalls"]:
            if call["StatusCode"] < 400:
                continue

            content = call["Content"]
            errors.append(
                RecordedError(
                    scenario=path.stem,
                    status_code=call["StatusCode"],
                    headers={**call["Headers"], **call["ContentHeaders"]},
                    body=content.encode("utf-8") if content is not None else b"",
                )
            )

    return errors
