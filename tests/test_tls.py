"""TLS on the parameter server's socket (spark.ssl.sparkeras.* or spark.ssl.*): training
works through it on both paths, and clients without the trust get nothing."""
import os
import subprocess

import pytest
from conftest import run_job


def keytool(*args):
    java_home = os.environ.get("JAVA_HOME")
    tool = os.path.join(java_home, "bin", "keytool") if java_home else "keytool"
    subprocess.run([tool, *args], check=True, capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """A self-signed key for the server, and another certificate nobody configured."""
    d = tmp_path_factory.mktemp("tls")
    for name in ("server", "stranger"):
        keytool("-genkeypair", "-alias", name, "-keyalg", "RSA", "-keysize", "2048", "-dname", f"CN={name}",
                "-ext", "SAN=IP:127.0.0.1", "-validity", "2", "-storetype", "PKCS12",
                "-keystore", str(d / f"{name}.p12"), "-storepass", "secret-pass", "-keypass", "secret-pass")
    keytool("-exportcert", "-rfc", "-alias", "stranger", "-keystore", str(d / "stranger.p12"),
            "-storepass", "secret-pass", "-file", str(d / "stranger.pem"))
    return d


def test_training_runs_over_tls_and_untrusted_clients_get_nothing(stores):
    result = run_job("tls_job.py", stores / "server.p12", "secret-pass", stores / "stranger.pem")
    print(result)
    assert result["python_accuracy"] >= 0.9 and result["scala_accuracy"] >= 0.9, result
    # a plain client's Hello is answered by a TLS alert (record type 0x15) or a closed socket, never a frame
    assert result["plain_answer"] == "" or result["plain_answer"].startswith("15"), result
    assert result["untrusted"] == "SSLCertVerificationError", result
