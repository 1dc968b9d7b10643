package schema

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"
)

var receiptEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// ReceiptID is the receipt id of an idempotency key within a tenant: a pure
// function of the two, so a resent request gets the same receipt without any
// lookup, and two tenants using the same key never collide.
func ReceiptID(tenant, idempotencyKey string) string {
	h := sha256.New()
	h.Write([]byte("turnin-receipt-id-v1\x00"))
	h.Write([]byte(tenant))
	h.Write([]byte{0})
	h.Write([]byte(idempotencyKey))
	return "rcpt_" + receiptEncoding.EncodeToString(h.Sum(nil)[:20])
}

// ValidReceiptID reports whether s has the shape ReceiptID produces.
func ValidReceiptID(s string) bool {
	rest, ok := strings.CutPrefix(s, "rcpt_")
	if !ok || len(rest) != 32 {
		return false
	}
	_, err := receiptEncoding.DecodeString(rest)
	return err == nil
}

// Receipt is the proof a student keeps that a submission was accepted, and
// when. It is signed with the server's Ed25519 key, so anyone holding the
// public key can check it later — after an outage, in a dispute — without
// asking turnin.
type Receipt struct {
	ReceiptID    string    `json:"receipt_id"`
	TenantID     string    `json:"tenant_id"`
	CourseID     string    `json:"course_id"`
	AssignmentID string    `json:"assignment_id"`
	StudentID    string    `json:"student_id"`
	ObjectKey    string    `json:"object_key"`
	Size         int64     `json:"size"`
	SHA256       string    `json:"sha256"`
	AcceptedAt   time.Time `json:"accepted_at"`
	// KeyID names the signing key, so keys can be rotated.
	KeyID string `json:"key_id"`
	// Signature is the base64url (unpadded) Ed25519 signature of the
	// receipt's canonical form (see SigningBytes).
	Signature string `json:"signature"`
}

// NewReceipt builds the receipt of an accepted event.
func NewReceipt(ev *Submission) *Receipt {
	return &Receipt{
		ReceiptID: ev.ReceiptID, TenantID: ev.TenantID, CourseID: ev.CourseID,
		AssignmentID: ev.AssignmentID, StudentID: ev.StudentID, ObjectKey: ev.ObjectKey,
		Size: ev.Size, SHA256: ev.SHA256, AcceptedAt: ev.AcceptedAt.UTC(),
	}
}

// SigningBytes is the canonical form that is signed: a version line, then
// one field per line in a fixed order. No field may hold a newline (ids and
// object keys are validated), so the form is unambiguous.
func (r *Receipt) SigningBytes() []byte {
	var b strings.Builder
	for _, f := range []string{
		"turnin-receipt-v1", r.KeyID, r.ReceiptID, r.TenantID, r.CourseID, r.AssignmentID,
		r.StudentID, r.ObjectKey, strconv.FormatInt(r.Size, 10), r.SHA256,
		r.AcceptedAt.UTC().Format(time.RFC3339Nano),
	} {
		b.WriteString(f)
		b.WriteByte('\n')
	}
	return []byte(b.String())
}

// Sign sets KeyID and Signature.
func (r *Receipt) Sign(keyID string, key ed25519.PrivateKey) {
	r.KeyID = keyID
	r.AcceptedAt = r.AcceptedAt.UTC()
	r.Signature = base64.RawURLEncoding.EncodeToString(ed25519.Sign(key, r.SigningBytes()))
}

// ErrBadSignature is returned by Verify for a receipt that was not signed by
// the given key or was changed after signing.
var ErrBadSignature = errors.New("receipt signature does not verify")

// Verify checks the receipt's signature against pub.
func (r *Receipt) Verify(pub ed25519.PublicKey) error {
	sig, err := base64.RawURLEncoding.DecodeString(r.Signature)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return ErrBadSignature
	}
	if !ed25519.Verify(pub, r.SigningBytes(), sig) {
		return ErrBadSignature
	}
	return nil
}
