package consumer

import (
	"bytes"
	"fmt"
	"net/http"

	"github.com/turnin-dev/turnin/platform/objstore"
)

func putURL(p *objstore.PresignedUpload, body []byte) error {
	req, err := http.NewRequest(http.MethodPut, p.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	for k, v := range p.Headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("PUT: %d", resp.StatusCode)
	}
	return nil
}
