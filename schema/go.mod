module github.com/turnin-dev/turnin/schema

go 1.26.0
