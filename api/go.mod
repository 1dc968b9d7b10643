module github.com/turnin-dev/turnin/api

go 1.26.0

replace (
	github.com/turnin-dev/turnin/platform => ../platform
	github.com/turnin-dev/turnin/schema => ../schema
)
