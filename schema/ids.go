package schema

import (
	"errors"
	"strings"
)

// MaxIDLength bounds tenant, course, assignment and student identifiers.
const MaxIDLength = 128

// MaxIdempotencyKeyLength bounds the Idempotency-Key header.
const MaxIdempotencyKeyLength = 128

// ValidateID checks an LMS identifier: 1 to 128 characters of letters,
// digits, '.', '_' and '-', starting with a letter or digit. The set keeps
// identifiers safe inside object keys, record keys and URLs.
func ValidateID(s string) error {
	if s == "" {
		return errors.New("empty")
	}
	if len(s) > MaxIDLength {
		return errors.New("longer than 128 characters")
	}
	if !isAlnum(s[0]) {
		return errors.New("must start with a letter or digit")
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) && c != '.' && c != '_' && c != '-' {
			return errors.New("may hold only letters, digits, '.', '_' and '-'")
		}
	}
	return nil
}

// ValidateIdempotencyKey checks an Idempotency-Key: 1 to 128 printable ASCII
// characters without spaces (a UUID is the usual choice).
func ValidateIdempotencyKey(s string) error {
	if s == "" {
		return errors.New("empty")
	}
	if len(s) > MaxIdempotencyKeyLength {
		return errors.New("longer than 128 characters")
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return errors.New("may hold only printable ASCII characters without spaces")
		}
	}
	return nil
}

// ValidSHA256 reports whether s is a lowercase hex SHA-256 digest.
func ValidSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// StudentPrefix is the object-key prefix under which one student's uploads
// for one assignment live. A submission may only reference objects below it.
func StudentPrefix(tenant, course, assignment, student string) string {
	return "tenants/" + tenant + "/courses/" + course + "/assignments/" + assignment + "/students/" + student + "/"
}

// HasStudentPrefix reports whether key is an object strictly below the
// student's prefix, with no path tricks ("..", "//", a trailing "/").
func HasStudentPrefix(key, tenant, course, assignment, student string) bool {
	p := StudentPrefix(tenant, course, assignment, student)
	rest, ok := strings.CutPrefix(key, p)
	if !ok || rest == "" || len(key) > 1024 || strings.HasSuffix(rest, "/") {
		return false
	}
	for _, seg := range strings.Split(rest, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	for i := 0; i < len(key); i++ {
		if key[i] < ' ' || key[i] == 0x7f || key[i] == '\\' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}
