package schema

import (
	"crypto/ed25519"
	"strings"
	"testing"
	"time"
)

func TestValidateID(t *testing.T) {
	for _, ok := range []string{"a", "cs101", "HW-3.b_2", strings.Repeat("x", 128)} {
		if err := ValidateID(ok); err != nil {
			t.Errorf("ValidateID(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "-a", ".a", "a/b", "a b", "é", strings.Repeat("x", 129), "a\n"} {
		if ValidateID(bad) == nil {
			t.Errorf("ValidateID(%q) accepted", bad)
		}
	}
}

func TestValidateIdempotencyKey(t *testing.T) {
	if err := ValidateIdempotencyKey("6f1c2e1a-7f0e-4b8e-9a53-2b1d1c9e8a11"); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{"", "a b", "tab\t", strings.Repeat("k", 129), "ü"} {
		if ValidateIdempotencyKey(bad) == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestHasStudentPrefix(t *testing.T) {
	p := StudentPrefix("t", "c", "a", "s")
	for _, ok := range []string{p + "f.pdf", p + "01/f.pdf"} {
		if !HasStudentPrefix(ok, "t", "c", "a", "s") {
			t.Errorf("refused %q", ok)
		}
	}
	for _, bad := range []string{
		p, p + "dir/", p + "../s2/f", p + "./f", p + "a//b", StudentPrefix("t", "c", "a", "s2") + "f",
		"tenants/t/courses/c/assignments/a/students/s", p + "a\x00b", p + `a\b`, p + strings.Repeat("x", 1024),
	} {
		if HasStudentPrefix(bad, "t", "c", "a", "s") {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestReceiptID(t *testing.T) {
	a := ReceiptID("t1", "k")
	if a != ReceiptID("t1", "k") {
		t.Fatal("receipt id is not a pure function")
	}
	if a == ReceiptID("t2", "k") || a == ReceiptID("t1", "k2") {
		t.Fatal("receipt ids collide across tenants or keys")
	}
	// The separator keeps ("t1","0k") and ("t10","k") apart.
	if ReceiptID("t1", "0k") == ReceiptID("t10", "k") {
		t.Fatal("ambiguous concatenation")
	}
	if !ValidReceiptID(a) || ValidReceiptID("rcpt_x") || ValidReceiptID(strings.ToUpper(a)) {
		t.Fatal("ValidReceiptID disagrees with ReceiptID")
	}
}

func TestReceiptSignVerify(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	r := NewReceipt(sampleEvent())
	r.Sign("k1", priv)
	if err := r.Verify(pub); err != nil {
		t.Fatal(err)
	}
	forged := *r
	forged.AcceptedAt = forged.AcceptedAt.Add(-time.Hour) // claim an earlier time
	if forged.Verify(pub) == nil {
		t.Fatal("a receipt with a changed accepted_at verified")
	}
	other, _, _ := ed25519.GenerateKey(nil)
	if r.Verify(other) == nil {
		t.Fatal("verified against the wrong key")
	}
}

func TestMigrations(t *testing.T) {
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 {
		t.Fatal("no migrations embedded")
	}
	for i, m := range ms {
		if m.Version != i+1 {
			t.Errorf("migration %d has version %d: versions must be contiguous from 1", i, m.Version)
		}
		if strings.TrimSpace(m.SQL) == "" {
			t.Errorf("migration %d is empty", m.Version)
		}
	}
}

func TestCodesUnique(t *testing.T) {
	seen := map[Code]bool{}
	for _, c := range Codes {
		if seen[c] {
			t.Errorf("duplicate code %q", c)
		}
		seen[c] = true
	}
}
