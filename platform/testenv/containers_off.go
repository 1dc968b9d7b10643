//go:build !containers

package testenv

import "errors"

var (
	errNotBuilt = errors.New("these tests were built without -tags containers; run them with `make test-docker`")
	errNoDocker = errors.New("no Docker") // never returned without -tags containers
)

func startContainers() (*Containers, error) { return nil, errNotBuilt }
