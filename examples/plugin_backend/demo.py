"""Use the example plugin once it is installed: `pip install -e examples/plugin_backend`.

python examples/plugin_backend/demo.py [WORK_DIR]
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import tunesdk as ts


def main(work: Path) -> None:
    work.mkdir(parents=True, exist_ok=True)
    # The entry point makes the backend visible to tunesdk (and to `tunesdk backends`).
    info = next(b for b in ts.backends() if b.name == "lookup")
    print(f"backend {info.name}: kind={info.kind} usable={info.usable} from {info.distribution}")

    data = work / "faq.jsonl"
    faq = {
        "How do I reset my password?": "Use the 'Forgot password' link on the sign-in page.",
        "Where can I download my invoice?": "Under Billing, then Invoices.",
        "Can I change my plan later?": "Yes, any time, from Billing.",
    }
    rows = [
        {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}
        for q, a in faq.items()
    ]
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))

    job = ts.Job(model="faq-bot", data=data, method=ts.Full(), epochs=2, batch_size=2)
    plan = job.plan("lookup")
    print(plan.render())

    result = job.run(backend="lookup")
    print("losses:", [e.train_loss for e in result.events() if isinstance(e, ts.Progress)])
    print("model:", result.model.to_uri() if result.model else None)
    assert result.model is not None
    print("chat:", result.model.chat([{"role": "user", "content": "how to reset password"}]))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="tunesdk-")))
