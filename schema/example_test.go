package schema_test

import (
	"crypto/ed25519"
	"fmt"
	"time"

	"github.com/turnin-dev/turnin/schema"
)

// The receipt id depends only on the tenant and the idempotency key, so a
// client that resends gets the same id back without turnin looking anything up.
func ExampleReceiptID() {
	first := schema.ReceiptID("uni-east", "6f1c2e1a-7f0e-4b8e-9a53-2b1d1c9e8a11")
	resent := schema.ReceiptID("uni-east", "6f1c2e1a-7f0e-4b8e-9a53-2b1d1c9e8a11")
	otherTenant := schema.ReceiptID("uni-west", "6f1c2e1a-7f0e-4b8e-9a53-2b1d1c9e8a11")
	fmt.Println(first == resent, first == otherTenant, schema.ValidReceiptID(first))
	// Output: true false true
}

// A student keeps the receipt; anyone with turnin's public key can check it
// later, offline — and a receipt whose accepted_at was moved earlier fails.
func ExampleReceipt_Verify() {
	seed := make([]byte, ed25519.SeedSize) // turnin keygen makes a random one
	key := ed25519.NewKeyFromSeed(seed)
	r := &schema.Receipt{
		ReceiptID: schema.ReceiptID("uni-east", "k1"), TenantID: "uni-east", CourseID: "cs101",
		AssignmentID: "hw3", StudentID: "s-42", ObjectKey: "tenants/uni-east/courses/cs101/assignments/hw3/students/s-42/a.pdf",
		Size: 48213, SHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		AcceptedAt: time.Date(2026, 12, 1, 23, 58, 59, 0, time.UTC),
	}
	r.Sign("ed25519:example", key)
	pub := key.Public().(ed25519.PublicKey)
	fmt.Println(r.Verify(pub))

	r.AcceptedAt = r.AcceptedAt.Add(-time.Hour)
	fmt.Println(r.Verify(pub))
	// Output:
	// <nil>
	// receipt signature does not verify
}

// Lateness is judged on accepted_at against the student's own deadline.
func ExampleAssignment_Lateness() {
	due := time.Date(2026, 12, 1, 23, 59, 0, 0, time.UTC)
	a := &schema.Assignment{DueAt: due, Extensions: map[string]time.Time{"s-7": due.Add(48 * time.Hour)}}
	fmt.Println(a.Lateness("s-1", due.Add(90*time.Second)))
	fmt.Println(a.Lateness("s-7", due.Add(90*time.Second)))
	// Output:
	// true 90
	// false 0
}
