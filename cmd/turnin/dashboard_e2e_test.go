package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/turnin-dev/turnin/api"
	"github.com/turnin-dev/turnin/api/client"
	"github.com/turnin-dev/turnin/consumer"
	"github.com/turnin-dev/turnin/platform/objstore"
	"github.com/turnin-dev/turnin/platform/testenv"
	"github.com/turnin-dev/turnin/schema"
)

// chromiumPath finds a local Chromium. Without one the browser test is
// skipped — except under CI=true, where `make test` (infra/chromium.sh)
// was to install it, so a missing browser is a failure.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("TURNIN_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no chromium binary found, and CI=true: run infra/chromium.sh (make test does) to install it")
	}
	t.Skip("no chromium binary found: skipping the browser test (infra/chromium.sh installs one; CI=true makes this a failure)")
	return ""
}

// artifactsDir is where screenshots go: TURNIN_ARTIFACTS, or artifacts/
// beside this test (git-ignored).
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("TURNIN_ARTIFACTS")
	if dir == "" {
		dir = "artifacts"
	}
	dir, err := filepath.Abs(filepath.Join(dir, t.Name()))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestDashboardInBrowser drives the dashboard in headless Chromium against
// the real embedded stack: sign in with the keyboard, submit through the
// API while no consumer runs and watch the submission's page say queued,
// start the consumers and watch the same page — no reload — turn to
// processed; then a submission whose file is missing is dead-lettered,
// staff open it from the assignment's dead letters, upload the file,
// preview the redrive, confirm it, and watch it end processed.
// Screenshots of each step are saved as artifacts.
func TestDashboardInBrowser(t *testing.T) {
	chrome := chromiumPath(t)
	shots := artifactsDir(t)
	_, dbURL := testenv.Postgres(t)
	cfg := devConfig(t, t.TempDir(), dbURL)
	cfg.API.ObjectCheck = api.ObjectCheckDeferred // so a missing file is dead-lettered, not refused
	d, err := StartDev(testenv.Ctx(t, time.Minute), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()

	// The API alone first: submissions stay queued until the consumers start.
	runCtx, stopAll := context.WithCancel(context.Background())
	var running []chan error
	start := func(run func(context.Context) error) {
		c := make(chan error, 1)
		running = append(running, c)
		go func() { c <- run(runCtx) }()
	}
	defer func() {
		stopAll()
		for _, c := range running {
			if err := <-c; err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("run: %v", err)
			}
		}
	}()
	ln := d.ln
	d.ln = nil
	start(func(ctx context.Context) error { return d.API.Run(ctx, ln) })
	waitReady(t, d.URL)

	// Headless, and nothing that reaches for the network by itself.
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1366, 768),
		chromedp.NoSandbox, chromedp.DisableGPU, chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(alloc, chromedp.WithErrorf(t.Logf))
	defer cancelBrowser()
	ctx, cancel := context.WithTimeout(bctx, 3*time.Minute)
	defer cancel()
	shot := func(name string) chromedp.Action[chromedp.Void] {
		return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
			png, err := chromedp.FullScreenshot(100)(ctx, tg) // quality 100: PNG
			if err != nil {
				return chromedp.Void{}, err
			}
			p := filepath.Join(shots, name+".png")
			t.Logf("screenshot %s", p)
			return chromedp.Void{}, os.WriteFile(p, png, 0o644)
		}
	}
	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	field := func(name string) string { return `[data-field="` + name + `"]` }
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	xp := func(s string) chromedp.Search { return chromedp.Search(s) }

	// Sign in, with the keyboard only.
	run("sign in",
		chromedp.Navigate(d.URL+"/dashboard"),
		chromedp.WaitVisible(css(`#api_key`)),
		shot("01-sign-in"),
		chromedp.Focus(css(`#name`)),
		chromedp.SendKeys(css(`#name`), "Ada Lovelace"),
		chromedp.SendKeys(css(`#api_key`), d.APIKey+"\r"),
		chromedp.WaitVisible(css(`a[href="/dashboard/assignments/hw1"]`)),
	)

	// Submit through the API; the page says queued.
	c := client.New(d.URL, d.APIKey)
	apiCtx := testenv.Ctx(t, 2*time.Minute)
	rc, err := c.SubmitFile(apiCtx, "browser-1", client.UploadRequest{CourseID: "cs101", AssignmentID: "hw1", StudentID: "s-001",
		Filename: "essay.txt", ContentType: "text/plain"}, []byte("my essay\n"))
	if err != nil {
		t.Fatal(err)
	}
	run("assignment page shows the backlog",
		chromedp.Click(css(`a[href="/dashboard/assignments/hw1"]`)),
		chromedp.WaitVisible(css(`#counts-h`)),
		waitText(field("queued"), "1"),
		shot("02-assignment-backlog"),
	)
	run("submission page says queued",
		chromedp.Navigate(d.URL+"/dashboard/submissions/"+rc.ReceiptID),
		waitText(field("state"), schema.StateQueued),
		shot("03-submission-queued"),
	)

	// Start the consumers and the dead-letter indexer: the open page turns
	// to processed by itself.
	start(func(ctx context.Context) error { return consumer.RunAll(ctx, d.Consumers...) })
	start(d.Indexer.Run)
	run("submission page turns processed without a reload",
		waitText(field("state"), schema.StateProcessed),
		chromedp.WaitVisible(xp(`//ol[@data-field="events"]/li[contains(., "processed")]`)),
		shot("04-submission-processed"),
	)

	// A submission whose file was never uploaded is dead-lettered.
	content := []byte("the essay that was never uploaded\n")
	sum := sha256.Sum256(content)
	req := client.SubmitRequest{CourseID: "cs101", AssignmentID: "hw1", StudentID: "s-002",
		ObjectKey: schema.StudentPrefix(DevTenant, "cs101", "hw1", "s-002") + "essay.txt",
		Size:      int64(len(content)), SHA256: hex.EncodeToString(sum[:]), ContentType: "text/plain"}
	parked, err := c.Submit(apiCtx, "browser-2", req)
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, c, parked.ReceiptID, schema.StateDeadLettered)
	run("the dead letter is listed and opens",
		chromedp.Navigate(d.URL+"/dashboard/assignments/hw1"),
		chromedp.WaitVisible(css(`a[href="/dashboard/submissions/`+parked.ReceiptID+`/redrive"]`)),
		waitText(field("dead_lettered"), "1"),
		shot("05-assignment-dead-letter"),
		chromedp.Click(css(`a[href="/dashboard/submissions/`+parked.ReceiptID+`"]`)),
		waitText(field("state"), schema.StateDeadLettered),
		chromedp.WaitVisible(xp(`//li[contains(., "object_missing")]`)),
		shot("06-dead-letter-timeline"),
	)

	// Staff put the file where it belongs, then redrive: preview, confirm.
	uploadObject(t, d, req, content)
	run("redrive after preview and confirmation",
		chromedp.Click(css(`a[href="/dashboard/submissions/`+parked.ReceiptID+`/redrive"]`)),
		chromedp.WaitVisible(xp(`//button[contains(., "Confirm redrive")]`)),
		chromedp.WaitVisible(xp(`//td[contains(., "object_missing")]`)),
		shot("07-redrive-preview"),
		chromedp.Click(css(`input[name="confirm"]`)),
		chromedp.Click(xp(`//button[contains(., "Confirm redrive")]`)),
		chromedp.WaitVisible(xp(`//p[@role="status"][contains(., "moved 1 record")]`)),
		waitText(field("state"), schema.StateProcessed),
		chromedp.WaitVisible(xp(`//li[contains(., "redriven")][contains(., "Ada Lovelace")]`)),
		shot("08-redriven-processed"),
	)
	var by string
	if err := d.DB.QueryRow(apiCtx, `SELECT requested_by FROM redrives`).Scan(&by); err != nil || !strings.HasPrefix(by, "Ada Lovelace (dashboard") {
		t.Fatalf("redrive audit row: %q %v", by, err)
	}
}

// waitText waits until the element's text is want (the page's script
// updates it on its own).
func waitText(sel, want string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		var got string
		for {
			var err error
			if got, err = chromedp.TextContent(chromedp.CSS(sel))(ctx, tg); err == nil && strings.TrimSpace(got) == want {
				return chromedp.Void{}, nil
			}
			select {
			case <-ctx.Done():
				return chromedp.Void{}, errors.New("waiting for " + sel + " to read " + want + ", it reads " + got)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}

func waitReady(t *testing.T, base string) {
	t.Helper()
	ctx := testenv.Ctx(t, 30*time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("API never ready: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// uploadObject puts content under the request's object key, as staff
// fixing a dead letter would.
func uploadObject(t *testing.T, d *Dev, req client.SubmitRequest, content []byte) {
	t.Helper()
	ctx := testenv.Ctx(t, 30*time.Second)
	store, err := objstore.New(objstore.Config{Endpoint: d.S3.Endpoint, AccessKey: d.S3.AccessKey, SecretKey: d.S3.SecretKey, Region: d.S3.Region})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	p, err := store.PresignPut(ctx, objstore.Upload{Key: req.ObjectKey, Size: req.Size, SHA256: req.SHA256, ContentType: req.ContentType})
	if err != nil {
		t.Fatal(err)
	}
	put, _ := http.NewRequestWithContext(ctx, http.MethodPut, p.URL, bytes.NewReader(content))
	for k, v := range p.Headers {
		put.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(put)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("upload: %v %v", resp, err)
	}
	resp.Body.Close()
}
