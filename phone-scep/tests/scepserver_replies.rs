//! Replies captured from the real micromdm scepserver 2.1.0 (Debian `scep`), answering
//! `phone scep` (tests/fixtures/scepserver): single-DES content, SHA-1 signature, and Go
//! pkcs7's constructed definite-length encryptedContent (ber.rs). `key.der` is the enrolled
//! key (PKCS#8), `issued.der` the certificate scepserver issued for it.
#![allow(clippy::unwrap_used, missing_docs)]

use der::asn1::PrintableStringRef;
use der::{Decode, Encode};
use phone_scep::CaCerts;
use phone_scep::cms::content_info::ContentInfo;
use phone_scep::cms::enveloped_data::EnvelopedData;
use phone_scep::key::{DeviceKey, SoftwareKey};
use phone_scep::message::{self, CertRep, CertRepError, Expectation, FailInfo};
use phone_scep::{algs::ContentCipher, oid, request};
use x509_cert::Certificate;

const GETCACERT: &[u8] = include_bytes!("fixtures/scepserver/getcacert.der");
const SUCCESS: &[u8] = include_bytes!("fixtures/scepserver/certrep-success.der");
const FAILURE: &[u8] = include_bytes!("fixtures/scepserver/certrep-failure-badrequest.der");
const KEY: &[u8] = include_bytes!("fixtures/scepserver/key.der");
const ISSUED: &[u8] = include_bytes!("fixtures/scepserver/issued.der");

/// The transactionID and recipientNonce a reply carries (after verifying its signature).
fn tid_and_nonce(ca: &CaCerts, body: &[u8]) -> (String, Vec<u8>) {
    let v = message::verify_signed(body, &ca.certs).unwrap();
    let get = |o| {
        v.attrs
            .iter()
            .find(|a| a.oid == o)
            .unwrap()
            .values
            .as_slice()[0]
            .clone()
    };
    let tid = PrintableStringRef::try_from(&get(oid::TRANSACTION_ID))
        .unwrap()
        .as_str()
        .to_string();
    (tid, get(oid::RECIPIENT_NONCE).value().to_vec())
}

#[test]
fn scepserver_success_reply_is_read() {
    let ca = CaCerts::parse(GETCACERT).unwrap();
    assert_eq!(ca.certs.len(), 1);
    // scepserver's CA certificate has keyUsage keyCertSign, cRLSign only, and signs its
    // CertReps itself: a CA without an RA may (CaCerts::may_sign_replies).
    assert!(!ca.has_ra() && ca.may_sign_replies(0));
    let key = SoftwareKey::from_pkcs8_der(KEY).unwrap();
    let (tid, nonce) = tid_and_nonce(&ca, SUCCESS);
    // Our transactionID rule (SHA-256 of the SPKI) is what went out and came back.
    assert_eq!(tid, request::transaction_id(&key).unwrap());
    // The envelope really is scepserver's single DES in the constructed BER form.
    let v = message::verify_signed(SUCCESS, &ca.certs).unwrap();
    let env = v.econtent.unwrap();
    assert!(
        ContentInfo::from_der(&env)
            .and_then(|ci| ci.content.decode_as::<EnvelopedData>())
            .is_err()
    );
    let fixed = phone_scep::ber::normalize_enveloped(&env).unwrap();
    let ed: EnvelopedData = ContentInfo::from_der(&fixed)
        .unwrap()
        .content
        .decode_as()
        .unwrap();
    assert_eq!(
        ContentCipher::from_oid(&ed.encrypted_content.content_enc_alg.oid),
        Some(ContentCipher::DesCbc)
    );
    // The self-signed request certificate is not needed to find the one recipient.
    let any_cert = Certificate::from_der(ISSUED).unwrap();
    let exp = Expectation {
        transaction_id: &tid,
        sender_nonce: &nonce,
        ca: &ca,
        our_cert: &any_cert,
        our_key: &key,
        requested_key: key.public_key(),
    };
    match message::parse_cert_rep(SUCCESS, &exp) {
        Ok(CertRep::Success(i)) => assert_eq!(i.certificate.to_der().unwrap(), ISSUED),
        other => panic!("{other:?}"),
    }
    // Another nonce or another key: refused.
    let other_nonce = [0u8; 16];
    let exp2 = Expectation {
        sender_nonce: &other_nonce,
        ..exp
    };
    assert_eq!(
        message::parse_cert_rep(SUCCESS, &exp2),
        Err(CertRepError::NonceMismatch)
    );
}

#[test]
fn scepserver_failure_reply_is_bad_request() {
    let ca = CaCerts::parse(GETCACERT).unwrap();
    let key = SoftwareKey::from_pkcs8_der(KEY).unwrap();
    let cert = Certificate::from_der(ISSUED).unwrap();
    let (tid, nonce) = tid_and_nonce(&ca, FAILURE);
    let exp = Expectation {
        transaction_id: &tid,
        sender_nonce: &nonce,
        ca: &ca,
        our_cert: &cert,
        our_key: &key,
        requested_key: key.public_key(),
    };
    assert_eq!(
        message::parse_cert_rep(FAILURE, &exp),
        Ok(CertRep::Failure(FailInfo::BadRequest))
    );
    let exp2 = Expectation {
        transaction_id: "X",
        ..exp
    };
    assert!(matches!(
        message::parse_cert_rep(FAILURE, &exp2),
        Err(CertRepError::TransactionIdMismatch { .. })
    ));
}
