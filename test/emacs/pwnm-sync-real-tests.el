;;; pwnm-sync-real-tests.el --- ERT tests of pwnm-sync.el against a real Patchwork  -*- lexical-binding: t; -*-

;;; Commentary:

;; Run by test/real/emacs.test.ts: Emacs talks to the checkout's real
;; `pwnm-sync serve', which talks to the real Patchwork 3.1.3 of
;; test/real (PWNM_REAL_URL, project PWNM_REAL_PROJECT with id
;; PWNM_REAL_PROJECT_ID).  The test reads Patchwork's answers from its
;; REST API, never from the server under test.

;;; Code:

(require 'ert)
(require 'json)
(require 'url)
(require 'pwnm-sync)

(setq pwnm-sync-config-file (getenv "PWNM_TEST_CONFIG"))
(pwnm-sync-mode 1)

(defconst pwnm-sync-real-test--project (getenv "PWNM_REAL_PROJECT")
  "The link name of the test's Patchwork project.")

(defun pwnm-sync-real-test--api (path)
  "GET PATH (after /api/1.3/) from the real Patchwork and parse the JSON."
  (let ((url-show-status nil))
    (with-current-buffer (url-retrieve-synchronously (concat (getenv "PWNM_REAL_URL") "/api/1.3/" path) t t 20)
      (goto-char (point-min))
      (re-search-forward "\n\n")
      (prog1 (json-parse-buffer :object-type 'plist :null-object nil)
        (kill-buffer)))))

(defun pwnm-sync-real-test--patches ()
  "Return the project's patches on Patchwork, plists."
  (append (pwnm-sync-real-test--api
           (format "patches/?project=%s&archived=both&per_page=250" (getenv "PWNM_REAL_PROJECT_ID")))
          nil))

(defun pwnm-sync-real-test--msgid (patch)
  "Return the notmuch form of PATCH's msgid."
  (let ((msgid (plist-get patch :msgid)))
    (substring msgid 1 -1)))

(defun pwnm-sync-real-test--server-state (msgid)
  "Return the Patchwork state of MSGID."
  (plist-get (seq-find (lambda (p) (equal (pwnm-sync-real-test--msgid p) msgid))
                       (pwnm-sync-real-test--patches))
             :state))

(defun pwnm-sync-real-test--wait (predicate &optional seconds)
  "Process events until PREDICATE is non-nil or SECONDS (default 30) pass."
  (let ((deadline (+ (float-time) (or seconds 30))))
    (while (and (not (funcall predicate)) (< (float-time) deadline))
      (accept-process-output nil 0.05))
    (funcall predicate)))

(defun pwnm-sync-real-test--synced ()
  "Run a sync and wait for it to end."
  (pwnm-sync)
  (should (pwnm-sync-real-test--wait (lambda () (not pwnm-sync--sync-running)) 120)))

(defun pwnm-sync-real-test--state-tags (msgid)
  "Return the state tags of MSGID.
Not the other families: checks, delegation, archived, bundles, review
trailers, thanked."
  (let ((prefix (concat "pw-" pwnm-sync-real-test--project "-")))
    (seq-filter (lambda (tag) (and (string-prefix-p prefix tag)
                                   (not (string-match-p "\\`\\(check-\\|delegate\\|bundle\\|\\(archived\\|acked\\|reviewed\\|tested\\|replied\\|thanked\\)\\'\\)"
                                                        (substring tag (length prefix))))))
                  (notmuch-call-notmuch-sexp "search" "--output=tags" "--format=sexp" (notmuch-id-to-query msgid)))))

(ert-deftest pwnm-sync-real-test-1-sync ()
  "M-x pwnm-sync tags every patch with the state the real Patchwork reports."
  (pwnm-sync-real-test--synced)
  (let ((patches (pwnm-sync-real-test--patches)))
    (should (> (length patches) 0))
    (dolist (p patches)
      (should (equal (pwnm-sync-real-test--state-tags (pwnm-sync-real-test--msgid p))
                     (list (concat "pw-" pwnm-sync-real-test--project "-" (plist-get p :state))))))))

(ert-deftest pwnm-sync-real-test-2-hello ()
  "The notmuch-hello Patchwork section counts what notmuch has per state."
  (pwnm-sync-real-test--synced)
  (notmuch-hello)
  (with-current-buffer "*notmuch-hello*"
    (let ((text (buffer-string)))
      (should (string-match-p "^Patchwork: " text))
      (dolist (state '("new" "under-review" "changes-requested"))
        (let ((count (seq-count (lambda (p) (equal (plist-get p :state) state)) (pwnm-sync-real-test--patches))))
          (should (> count 0))
          (should (string-match-p (format "\\b%d %s %s\\b" count (regexp-quote pwnm-sync-real-test--project) state) text)))))))

(ert-deftest pwnm-sync-real-test-3-show-key ()
  "Y a in notmuch-show accepts the patch on the real Patchwork."
  (pwnm-sync-real-test--synced)
  (let ((msgid (pwnm-sync-real-test--msgid
                (seq-find (lambda (p) (equal (plist-get p :state) "new")) (pwnm-sync-real-test--patches)))))
    (notmuch-show (notmuch-id-to-query msgid))
    (execute-kbd-macro (kbd "Y a"))
    (should (pwnm-sync-real-test--wait (lambda () (equal (pwnm-sync-real-test--server-state msgid) "accepted"))))
    (should (pwnm-sync-real-test--wait
             (lambda () (equal (pwnm-sync-real-test--state-tags msgid)
                               (list (concat "pw-" pwnm-sync-real-test--project "-accepted"))))))))

(ert-deftest pwnm-sync-real-test-z-shutdown ()
  "The server stops cleanly."
  (pwnm-sync--with-connection #'ignore)
  (should (pwnm-sync-real-test--wait (lambda () (and pwnm-sync--connection (pwnm-sync--info pwnm-sync--connection)))))
  (let ((proc (jsonrpc--process pwnm-sync--connection)))
    (pwnm-sync-shutdown)
    (should (pwnm-sync-real-test--wait (lambda () (not (process-live-p proc)))))))

(provide 'pwnm-sync-real-tests)
;;; pwnm-sync-real-tests.el ends here
