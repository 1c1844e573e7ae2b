//! Private keys, signing keys and bearer formats that are not tied to one vendor.

use super::{EXACT, KEYED, Rule, base64_private_key, keyed, tail};

pub(super) const RULES: &[Rule] = &[
    Rule {
        id: "private-key",
        description: "PEM private key (RSA, DSA, EC, PKCS#8, encrypted)",
        keywords: &["-----BEGIN"],
        // Lines end in a newline, or in `\n` inside a JSON or YAML string (service account keys).
        pattern: r"-----BEGIN (?:RSA |DSA |EC |ENCRYPTED |ANY )?PRIVATE KEY-----(?:\r?\n|\\n)(?:[A-Za-z\-]+:[^\n\\]*(?:\r?\n|\\n))*(?:\r?\n|\\n)?(?P<secret>(?:[A-Za-z0-9+/=]{16,}(?:\r?\n|\\n))+[A-Za-z0-9+/=]*)(?:\r?\n|\\n)?-----END (?:RSA |DSA |EC |ENCRYPTED |ANY )?PRIVATE KEY-----",
        multiline: true,
        entropy: Some(4.5),
        matches: &[
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA%{b:48}\n%{b:64}\n%{b:64}\n%{b:64}\n%{b:20}==\n-----END RSA PRIVATE KEY-----",
            "key = \"\"\"-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC%{b:32}\n%{b:64}\n%{b:64}\n-----END PRIVATE KEY-----\"\"\"",
            "\"private_key\": \"-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC%{b:32}\\n%{b:64}\\n-----END PRIVATE KEY-----\\n\",",
        ],
        quiet: &[
            "-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----",
            "-----BEGIN CERTIFICATE-----\n%{b:64}\n%{b:64}\n-----END CERTIFICATE-----",
            "-----BEGIN PUBLIC KEY-----\n%{b:64}\n%{b:64}\n-----END PUBLIC KEY-----",
        ],
        ..EXACT
    },
    Rule {
        id: "openssh-private-key",
        description: "OpenSSH private key",
        keywords: &["-----BEGIN OPENSSH PRIVATE KEY-----"],
        pattern: r"-----BEGIN OPENSSH PRIVATE KEY-----\r?\n(?P<secret>b3BlbnNzaC1rZXktdjE[A-Za-z0-9+/=\r\n]{40,}?)-----END OPENSSH PRIVATE KEY-----",
        multiline: true,
        entropy: Some(4.0),
        matches: &[
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n%{b:70}\n%{b:70}\n%{b:70}\n-----END OPENSSH PRIVATE KEY-----",
        ],
        quiet: &["-----BEGIN OPENSSH PRIVATE KEY-----\n<your key here>\n-----END OPENSSH PRIVATE KEY-----"],
        ..EXACT
    },
    Rule {
        id: "pgp-private-key",
        description: "PGP / GPG private key block",
        keywords: &["-----BEGIN PGP PRIVATE KEY BLOCK-----"],
        pattern: r"-----BEGIN PGP PRIVATE KEY BLOCK-----\r?\n(?:[^\n]*: [^\n]*\r?\n)*\r?\n(?P<secret>(?:[A-Za-z0-9+/=]{16,}\r?\n){3,})",
        multiline: true,
        entropy: Some(4.5),
        matches: &[
            "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQOYBF%{b:58}\n%{b:64}\n%{b:64}\n%{b:64}\n=%{b:4}\n-----END PGP PRIVATE KEY BLOCK-----",
        ],
        quiet: &[
            "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQINBF%{b:58}\n%{b:64}\n%{b:64}\n-----END PGP PUBLIC KEY BLOCK-----",
        ],
        ..EXACT
    },
    Rule {
        id: "putty-private-key",
        description: "PuTTY private key file",
        keywords: &["PuTTY-User-Key-File-"],
        pattern: r"PuTTY-User-Key-File-[23]: [\w\-]+\r?\n[\s\S]{0,4000}?Private-Lines: \d+\r?\n(?P<secret>(?:[A-Za-z0-9+/=]{4,}\r?\n)+)",
        multiline: true,
        entropy: Some(4.0),
        matches: &[
            "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: deploy\nPublic-Lines: 2\n%{b:64}\n%{b:16}\nPrivate-Lines: 1\n%{b:44}\nPrivate-MAC: %{h:64}",
        ],
        quiet: &["PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: deploy\nPublic-Lines: 2"],
        ..EXACT
    },
    Rule {
        id: "base64-private-key",
        description: "Base64-encoded PEM private key (kubeconfig client-key-data, CI variables)",
        keywords: &["LS0tLS1CRUdJTi"],
        pattern: r"\b(LS0tLS1CRUdJTi[A-Za-z0-9+/]{60,}={0,2})",
        check: Some(base64_private_key),
        entropy: Some(4.0),
        matches: &["    client-key-data: LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQpNSUlFb3dJQkFBS0NBUUVB%{b:200}"],
        quiet: &["    client-certificate-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUM%{b:200}"],
        ..EXACT
    },
    Rule {
        id: "jwt",
        description: "JSON Web Token",
        keywords: &["eyJ"],
        pattern: concat!(r"\b(eyJ[A-Za-z0-9_\-]{10,}\.eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{16,})", tail!()),
        entropy: Some(4.0),
        matches: &[
            "Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJzdmMtZGVwbG95IiwiZXhwIjo%{u:40}.%{u:86}", // shipgate:allow
        ],
        quiet: &[
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
            "eyJhbGciOiJub25lIn0.%{u:10}",
        ],
        ..EXACT
    },
    Rule {
        id: "age-secret-key",
        description: "age encryption secret key",
        keywords: &["AGE-SECRET-KEY-1"],
        pattern: r"\b(AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58})\b",
        matches: &["# created: 2026-01-01\nAGE-SECRET-KEY-1%{B:58}"],
        quiet: &["AGE-SECRET-KEY-1%{B:20}", "age1%{l:58}"],
        ..EXACT
    },
    Rule {
        id: "minisign-secret-key",
        description: "minisign secret key",
        keywords: &["minisign"],
        case_sensitive: false,
        pattern: r"untrusted comment: minisign (?:encrypted )?secret key\r?\n(RWRTY0Iy[A-Za-z0-9+/]{150,}={0,2})",
        multiline: true,
        entropy: Some(4.0),
        matches: &["untrusted comment: minisign encrypted secret key\nRWRTY0Iy%{b:204}"],
        quiet: &["untrusted comment: minisign public key 1A2B3C4D\nRWQ%{b:53}"],
        ..EXACT
    },
    Rule {
        id: "onepassword-service-account-token",
        description: "1Password service account token",
        keywords: &["ops_eyJ"],
        pattern: r"\b(ops_eyJ[A-Za-z0-9+/]{250,}={0,3})",
        entropy: Some(4.0),
        matches: &["OP_SERVICE_ACCOUNT_TOKEN=ops_eyJ%{b:300}"],
        quiet: &["ops_eyJ%{b:20}"],
        ..EXACT
    },
    Rule {
        id: "onepassword-secret-key",
        description: "1Password account secret key",
        keywords: &["A3-"],
        pattern: r"\b(A3-[A-Z0-9]{6}-(?:[A-Z0-9]{11}|[A-Z0-9]{6}-[A-Z0-9]{5})-[A-Z0-9]{5}-[A-Z0-9]{5}-[A-Z0-9]{5})\b",
        entropy: Some(3.0),
        matches: &["Secret Key: A3-%{U:6}-%{U:6}-%{U:5}-%{U:5}-%{U:5}-%{U:5}"],
        quiet: &["A3-XXXXXX-XXXXXX-XXXXX-XXXXX-XXXXX-XXXXX", "A3-%{U:6}"],
        ..EXACT
    },
    Rule {
        id: "wireguard-private-key",
        description: "WireGuard private key",
        keywords: &["privatekey"],
        pattern: keyed!("privatekey", "[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]="),
        entropy: Some(4.0),
        matches: &["[Interface]\nPrivateKey = %{b:42}A=\nAddress = 10.8.0.2/32"],
        quiet: &["PublicKey = %{b:42}A=", "PrivateKey = <client private key>"],
        ..KEYED
    },
];
