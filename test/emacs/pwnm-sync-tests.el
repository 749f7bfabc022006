;;; pwnm-sync-tests.el --- ERT tests for pwnm-sync.el  -*- lexical-binding: t; -*-

;;; Commentary:

;; Run by test/emacs.test.ts, which hosts the sandbox Patchwork and a
;; control endpoint (PWNM_TEST_CONTROL), and has made a notmuch database
;; (NOTMUCH_CONFIG) and a pwnm-sync config (PWNM_TEST_CONFIG).  The
;; server is the checkout's real dist/cli.js, found by the package.

;;; Code:

(require 'ert)
(require 'json)
(require 'url)
(require 'pwnm-sync)

(setq pwnm-sync-config-file (getenv "PWNM_TEST_CONFIG"))
(pwnm-sync-mode 1)

(defun pwnm-sync-test--control (path)
  "GET PATH from the test's control endpoint and return the parsed JSON."
  (let ((url-show-status nil))
    (with-current-buffer (url-retrieve-synchronously (concat (getenv "PWNM_TEST_CONTROL") path) t t 10)
      (goto-char (point-min))
      (re-search-forward "\n\n")
      (prog1 (json-parse-buffer :object-type 'plist :null-object nil)
        (kill-buffer)))))

(defun pwnm-sync-test--wait (predicate &optional seconds)
  "Process events until PREDICATE is non-nil or SECONDS (default 20) pass."
  (let ((deadline (+ (float-time) (or seconds 20))))
    (while (and (not (funcall predicate)) (< (float-time) deadline))
      (accept-process-output nil 0.05))
    (funcall predicate)))

(defmacro pwnm-sync-test--while (setting reset &rest body)
  "Run BODY with the control endpoint's SETTING on, and RESET it after."
  (declare (indent 2) (debug t))
  `(progn
     (pwnm-sync-test--control ,setting)
     (unwind-protect (progn ,@body)
       (pwnm-sync-test--control ,reset))))

(defun pwnm-sync-test--synced ()
  "Run a sync and wait for it to end."
  (pwnm-sync)
  (should (pwnm-sync-test--wait (lambda () (not pwnm-sync--sync-running)) 120)))

(defun pwnm-sync-test--patches (state)
  "Return the sandbox patches in STATE, plists with :id :msgid :state."
  (seq-filter (lambda (p) (equal (plist-get p :state) state))
              (append (pwnm-sync-test--control "/patches") nil)))

(defun pwnm-sync-test--server-state (msgid)
  "Return the Patchwork state of MSGID."
  (plist-get (pwnm-sync-test--control (concat "/patch?msgid=" (url-hexify-string msgid))) :state))

(defun pwnm-sync-test--tags (msgid)
  "Return the notmuch tags of MSGID."
  (notmuch-call-notmuch-sexp "search" "--output=tags" "--format=sexp" (notmuch-id-to-query msgid)))

(defun pwnm-sync-test--state-tags (msgid)
  "Return the pw-skiboot- state tags of MSGID (not checks, delegation, archived)."
  (seq-filter (lambda (tag) (and (string-prefix-p "pw-skiboot-" tag)
                                 (not (string-match-p "^pw-skiboot-\\(check-\\|delegate\\|archived$\\)" tag))))
              (pwnm-sync-test--tags msgid)))

(defun pwnm-sync-test--log ()
  "Return the text of the *pwnm-sync* log buffer."
  (with-current-buffer (get-buffer-create "*pwnm-sync*") (buffer-string)))

(defun pwnm-sync-test--fresh-patch ()
  "Return the msgid of a `new' patch no earlier test touched, after a sync."
  (let ((candidates (pwnm-sync-test--patches "new")))
    (should candidates)
    (plist-get (car candidates) :msgid)))

(defun pwnm-sync-test--messages ()
  "Return the text of the *Messages* buffer: what the echo area showed."
  (with-current-buffer (messages-buffer) (buffer-string)))

(defun pwnm-sync-test--count (regexp text)
  "Return how many times REGEXP matches in TEXT."
  (let ((n 0) (start 0))
    (while (string-match regexp text start)
      (setq n (1+ n) start (match-end 0)))
    n))

(defun pwnm-sync-test--header-tags ()
  "Return the tags the notmuch-show header of the message at point displays."
  (save-excursion
    (goto-char (notmuch-show-message-top))
    (let ((line (buffer-substring-no-properties (line-beginning-position) (line-end-position))))
      (and (string-match "(\\([^()]*\\))$" line)
           (split-string (match-string 1 line))))))

(defun pwnm-sync-test--press (keys)
  "Press KEYS in the current buffer."
  (execute-kbd-macro (kbd keys)))

(ert-deftest pwnm-sync-test-1-sync ()
  "M-x pwnm-sync tags every patch and says what it did."
  (pwnm-sync-test--synced)
  (should (string-match-p "sync: skiboot: 30 retagged, 0 pushed; [0-9.]+ s" (pwnm-sync-test--log)))
  (dolist (p (append (pwnm-sync-test--control "/patches") nil))
    (should (equal (pwnm-sync-test--state-tags (plist-get p :msgid))
                   (list (concat "pw-skiboot-" (plist-get p :state)))))))

(ert-deftest pwnm-sync-test-2-hello ()
  "The notmuch-hello Patchwork section shows one entry per state with counts.
Empty entries follow `notmuch-show-empty-saved-searches', as notmuch's own."
  (pwnm-sync-test--synced)
  (let ((counts (mapcar (lambda (state)
                          (cons state (string-to-number (car (process-lines "notmuch" "count" (concat "tag:pw-skiboot-" state))))))
                        pwnm-sync-hello-states)))
    ;; Both kinds are there to see: some states have patches, some none.
    (should (cl-some (lambda (c) (zerop (cdr c))) counts))
    (should (cl-some (lambda (c) (> (cdr c) 0)) counts))
    (dolist (show-empty '(nil t))
      (let ((notmuch-show-empty-saved-searches show-empty))
        (notmuch-hello)
        (with-current-buffer "*notmuch-hello*"
          (let ((text (buffer-string)))
            (should (string-match-p "^Patchwork: " text))
            (pcase-dolist (`(,state . ,count) counts)
              (should (eq (and (string-match-p (format "\\b%d skiboot %s\\b" count (regexp-quote state)) text) t)
                          (or show-empty (> count 0)))))))))))

(ert-deftest pwnm-sync-test-3-show-key ()
  "Y a in notmuch-show accepts the patch on Patchwork."
  (pwnm-sync-test--synced)
  (let ((msgid (pwnm-sync-test--fresh-patch)))
    (notmuch-show (notmuch-id-to-query msgid))
    (should (member "pw-skiboot-new" (pwnm-sync-test--header-tags)))
    (pwnm-sync-test--press "Y a")
    ;; At once, with no refresh and before the server answers: the new state only.
    (should (member "pw-skiboot-accepted" (pwnm-sync-test--header-tags)))
    (should-not (member "pw-skiboot-new" (pwnm-sync-test--header-tags)))
    (should (pwnm-sync-test--wait (lambda () (equal (pwnm-sync-test--server-state msgid) "accepted"))))
    (should (equal (pwnm-sync-test--state-tags msgid) '("pw-skiboot-accepted")))
    (should (pwnm-sync-test--wait (lambda () (string-match-p (concat "push skiboot " (regexp-quote msgid) ": pushed") (pwnm-sync-test--log)))))))

(ert-deftest pwnm-sync-test-4-tree-key ()
  "Y u in notmuch-tree puts the patch under review."
  (let ((msgid (pwnm-sync-test--fresh-patch)))
    (notmuch-tree (notmuch-id-to-query msgid))
    (should (pwnm-sync-test--wait (lambda () (notmuch-tree-get-message-id))))
    (pwnm-sync-test--press "Y u")
    (should (pwnm-sync-test--wait (lambda () (equal (pwnm-sync-test--server-state msgid) "under-review"))))))

(ert-deftest pwnm-sync-test-5-search-key ()
  "Y c in notmuch-search acts on the patch messages of the thread."
  (let ((msgid (pwnm-sync-test--fresh-patch)))
    (notmuch-search (notmuch-id-to-query msgid))
    (should (pwnm-sync-test--wait (lambda () (not (get-buffer-process (current-buffer))))))
    (goto-char (point-min))
    (pwnm-sync-test--press "Y c")
    (should (pwnm-sync-test--wait (lambda () (equal (pwnm-sync-test--server-state msgid) "changes-requested"))))))

(ert-deftest pwnm-sync-test-6-manual-tag ()
  "A state tag changed with plain notmuch-tag is pushed through the hook."
  (let ((msgid (pwnm-sync-test--fresh-patch)))
    (notmuch-tag (notmuch-id-to-query msgid) '("+pw-skiboot-rfc" "-pw-skiboot-new"))
    (should (pwnm-sync-test--wait (lambda () (equal (pwnm-sync-test--server-state msgid) "rfc"))))))

(ert-deftest pwnm-sync-test-7-refusal ()
  "A refused change puts the Patchwork state back and says why."
  (let ((msgid (pwnm-sync-test--fresh-patch)))
    (pwnm-sync-test--while "/maintainer?on=0" "/maintainer?on=1"
      (notmuch-show (notmuch-id-to-query msgid))
      (pwnm-sync-test--press "Y r")
      (should (pwnm-sync-test--wait (lambda () (string-match-p "refused not a maintainer of skiboot on sandbox" (pwnm-sync-test--log)))))
      (should (pwnm-sync-test--wait (lambda () (equal (pwnm-sync-test--state-tags msgid) '("pw-skiboot-new")))))
      (should (equal (pwnm-sync-test--server-state msgid) "new")))))

(ert-deftest pwnm-sync-test-8-queued ()
  "A change Patchwork cannot take now goes out with the next sync."
  (let ((msgid (pwnm-sync-test--fresh-patch)))
    (pwnm-sync-test--while "/fault?on=1" "/fault?on=0"
      (notmuch-tag (notmuch-id-to-query msgid) '("+pw-skiboot-deferred" "-pw-skiboot-new"))
      (should (pwnm-sync-test--wait (lambda () (string-match-p (concat "push skiboot " (regexp-quote msgid) ": queued") (pwnm-sync-test--log)))))
      (should (equal (pwnm-sync-test--server-state msgid) "new")))
    (pwnm-sync-test--synced)
    (should (equal (pwnm-sync-test--server-state msgid) "deferred"))
    (should (equal (pwnm-sync-test--state-tags msgid) '("pw-skiboot-deferred")))))

(ert-deftest pwnm-sync-test-9-patch-info ()
  "The patch facts come from the server."
  (let* ((msgid (pwnm-sync-test--fresh-patch))
         (patches (pwnm-sync-patch-info msgid)))
    (should (equal (plist-get (seq-first patches) :project) "skiboot"))
    (with-current-buffer "*pwnm-sync patch*"
      (should (string-match-p "State: +New" (buffer-string))))))

(ert-deftest pwnm-sync-test-a-pending ()
  "The pending buffer lists what waits and drops it."
  (let ((msgid (pwnm-sync-test--fresh-patch)))
    (pwnm-sync-test--while "/maintainer?on=0" "/maintainer?on=1"
      (notmuch-tag (notmuch-id-to-query msgid) '("+pw-skiboot-superseded" "-pw-skiboot-new"))
      (should (pwnm-sync-test--wait (lambda () (string-match-p (concat "push skiboot " (regexp-quote msgid) ": refused") (pwnm-sync-test--log))))))
    (pwnm-sync-pending)
    (with-current-buffer "*pwnm-sync pending*"
      (goto-char (point-min))
      (should (search-forward msgid nil t))
      (beginning-of-line)
      (pwnm-sync-pending-drop (tabulated-list-get-id))
      (goto-char (point-min))
      (should-not (search-forward msgid nil t)))))

(ert-deftest pwnm-sync-test-b-restart ()
  "A crashed server is restarted by the next command, which gets its answer."
  (pwnm-sync--connect)
  (let ((proc (jsonrpc--process pwnm-sync--connection)))
    (kill-process proc)
    (should (pwnm-sync-test--wait (lambda () (null pwnm-sync--connection))))
    (let* ((msgid (pwnm-sync-test--fresh-patch))
           (sandbox (pwnm-sync-test--control (concat "/patch?msgid=" (url-hexify-string msgid))))
           (patches (pwnm-sync-patch-info msgid)))
      (should (= (length patches) 1))
      (should (equal (plist-get (seq-first patches) :messageId) msgid))
      (should (equal (plist-get (seq-first patches) :patchId) (plist-get sandbox :id)))
      (should (jsonrpc-running-p pwnm-sync--connection))
      (should-not (eq (jsonrpc--process pwnm-sync--connection) proc)))))

(ert-deftest pwnm-sync-test-c-second-sync-refused ()
  "A second M-x pwnm-sync while one runs says so in the echo area, and starts nothing."
  (pwnm-sync-test--while "/delay?ms=400" "/delay?ms=0"
    (pwnm-sync)
    (let ((before (pwnm-sync-test--count "already running" (pwnm-sync-test--messages)))
          (conn pwnm-sync--connection))
      (pwnm-sync)
      (should (= (pwnm-sync-test--count "\\[pwnm-sync\\] A sync is already running" (pwnm-sync-test--messages)) (1+ before)))
      ;; One sync request in flight, not two.
      (should (= (hash-table-count (jsonrpc--request-continuations conn)) 1)))
    (should (pwnm-sync-test--wait (lambda () (not pwnm-sync--sync-running)) 60))))

(ert-deftest pwnm-sync-test-d-long-sync ()
  "A sync longer than jsonrpc's 10 s default keeps Emacs responsive."
  :tags '(:slow)
  (pwnm-sync-test--while "/delay?ms=4000" "/delay?ms=0"
    (let* ((ticks 0)
           (timer (run-with-timer 0.1 0.1 (lambda () (cl-incf ticks))))
           (started (float-time)))
      (unwind-protect
          (progn
            (pwnm-sync t)
            (should (pwnm-sync-test--wait (lambda () (not pwnm-sync--sync-running)) 120))
            (should (> (- (float-time) started) 10))
            ;; Timers kept firing all along: Emacs was never blocked.
            (should (> ticks (* 5 (- (float-time) started))))
            (should (string-match-p "sync: skiboot: 0 retagged" (pwnm-sync-test--log))))
        (cancel-timer timer)))))

(ert-deftest pwnm-sync-test-e-cancel ()
  "pwnm-sync-cancel stops a running sync and says so in the echo area."
  (pwnm-sync-test--while "/delay?ms=2000" "/delay?ms=0"
    (let ((before (pwnm-sync-test--count "Sync cancelled" (pwnm-sync-test--messages))))
      (pwnm-sync t)
      (accept-process-output nil 0.5)
      (pwnm-sync-cancel)
      (should (pwnm-sync-test--wait (lambda () (not pwnm-sync--sync-running)) 60))
      (should (= (pwnm-sync-test--count "\\[pwnm-sync\\] Sync cancelled; what was done is kept" (pwnm-sync-test--messages)) (1+ before))))))

(ert-deftest pwnm-sync-test-f-archive-key ()
  "Y A archives the patch on Patchwork, and again unarchives it."
  (let ((msgid (pwnm-sync-test--fresh-patch)))
    (notmuch-show (notmuch-id-to-query msgid))
    (pwnm-sync-test--press "Y A")
    (should (pwnm-sync-test--wait (lambda () (eq (plist-get (pwnm-sync-test--control (concat "/patch?msgid=" (url-hexify-string msgid))) :archived) t))))
    (should (member "pw-skiboot-archived" (pwnm-sync-test--tags msgid)))
    (pwnm-sync-test--press "Y A")
    (should (pwnm-sync-test--wait (lambda () (eq (plist-get (pwnm-sync-test--control (concat "/patch?msgid=" (url-hexify-string msgid))) :archived) :false))))))

(ert-deftest pwnm-sync-test-g-delegate-key ()
  "Y m delegates the patch to me and tags it."
  (let ((msgid (pwnm-sync-test--fresh-patch)))
    (notmuch-show (notmuch-id-to-query msgid))
    (pwnm-sync-test--press "Y m")
    (should (equal (plist-get (pwnm-sync-test--control (concat "/patch?msgid=" (url-hexify-string msgid))) :delegate) "maint"))
    (should (member "pw-skiboot-delegated" (pwnm-sync-test--tags msgid)))))

(ert-deftest pwnm-sync-test-h-info-checks ()
  "The patch facts show CI results per context, delegate and series."
  (let ((msgid (pwnm-sync-test--fresh-patch)))
    (pwnm-sync-test--control (concat "/check?state=fail&context=ci-build&url=" (url-hexify-string "https://ci.example.org/42") "&msgid=" (url-hexify-string msgid)))
    (pwnm-sync-test--synced)
    (should (member "pw-skiboot-check-fail" (pwnm-sync-test--tags msgid)))
    (pwnm-sync-delegate-to-me msgid)
    (should (equal (plist-get (pwnm-sync-test--control (concat "/patch?msgid=" (url-hexify-string msgid))) :delegate) "maint"))
    (pwnm-sync-patch-info msgid)
    (with-current-buffer "*pwnm-sync patch*"
      (should (string-match-p "CI: +fail" (buffer-string)))
      (should (string-match-p "fail +ci-build https://ci.example.org/42" (buffer-string)))
      (should (string-match-p "Delegate: maint$" (buffer-string)))
      (should (string-match-p "Series: +v[0-9]+ [0-9]+/[0-9]+" (buffer-string))))))

(defun pwnm-sync-test--untouched-series ()
  "Return the msgids of a series of two or more patches, all still `new'."
  (let ((groups (seq-group-by (lambda (p) (plist-get p :series)) (append (pwnm-sync-test--control "/patches") nil))))
    (mapcar (lambda (p) (plist-get p :msgid))
            (cdr (seq-find (lambda (g) (and (cddr g) (seq-every-p (lambda (p) (equal (plist-get p :state) "new")) (cdr g))))
                           groups)))))

(ert-deftest pwnm-sync-test-i-series-key ()
  "C-u Y c sets the state of every patch of the series."
  (let ((series (pwnm-sync-test--untouched-series)))
    (should (cdr series))
    (notmuch-show (notmuch-id-to-query (car series)))
    (pwnm-sync-test--press "C-u Y c")
    (dolist (msgid series)
      (should (equal (pwnm-sync-test--server-state msgid) "changes-requested"))
      (should (equal (pwnm-sync-test--state-tags msgid) '("pw-skiboot-changes-requested"))))))

(ert-deftest pwnm-sync-test-j-cover-letter ()
  "On a cover letter the state key acts on the patches of its thread."
  (let* ((covers (seq-filter
                  (lambda (id)
                    (let ((patches (notmuch-call-notmuch-sexp "search" "--output=messages" "--format=sexp"
                                                              (format "thread:{id:%s} and tag:patchwork" id))))
                      (and (cdr patches)
                           (seq-every-p (lambda (m) (equal (pwnm-sync-test--state-tags m) '("pw-skiboot-new"))) patches))))
                  (notmuch-call-notmuch-sexp "search" "--output=messages" "--format=sexp" "not tag:patchwork and not subject:Re")))
         (cover (car covers))
         (patches (notmuch-call-notmuch-sexp "search" "--output=messages" "--format=sexp"
                                             (format "thread:{id:%s} and tag:patchwork" cover))))
    (should cover)
    (notmuch-show (notmuch-id-to-query cover))
    (goto-char (point-min))
    (pwnm-sync-test--press "Y r")
    (dolist (msgid patches)
      (should (pwnm-sync-test--wait (lambda () (equal (pwnm-sync-test--server-state msgid) "rejected")))))))

(ert-deftest pwnm-sync-test-k-one-initialize ()
  "A connect sends initialize once; auth-source tokens follow with setTokens."
  (pwnm-sync-shutdown)
  (let* ((dir (make-temp-file "pwnm-sync-test" t))
         (config (expand-file-name "read-only.ini" dir))
         (authinfo (expand-file-name "authinfo" dir))
         (token nil)
         (sent nil)
         (record (lambda (_conn method &rest _) (push method sent))))
    (unwind-protect
        (progn
          ;; The test's config without its token; the token in an authinfo file instead.
          (with-temp-buffer
            (insert-file-contents (getenv "PWNM_TEST_CONFIG"))
            (goto-char (point-min))
            (re-search-forward "^token = \\(.*\\)\n")
            (setq token (match-string 1))
            (replace-match "")
            (write-region nil nil config))
          (with-temp-file authinfo (insert (format "machine 127.0.0.1 password %s\n" token)))
          (advice-add 'jsonrpc-request :before record)
          (let ((pwnm-sync-config-file config)
                (auth-sources (list authinfo)))
            (auth-source-forget-all-cached)
            (pwnm-sync--connect)
            (should (equal (reverse sent) '(:initialize :setTokens)))
            (should (eq (plist-get (seq-first (plist-get (pwnm-sync--info pwnm-sync--connection) :instances)) :readOnly)
                        :json-false))
            ;; The token is in no buffer: not the events log, not ours, not the server's stderr.
            (should (with-current-buffer (jsonrpc-events-buffer pwnm-sync--connection)
                      (string-match-p "initialize" (buffer-string))))
            (dolist (buffer (list (jsonrpc-events-buffer pwnm-sync--connection) "*pwnm-sync*" "*pwnm-sync stderr*"))
              (with-current-buffer (get-buffer-create buffer)
                (should-not (string-match-p (regexp-quote token) (buffer-string)))))
            (pwnm-sync-shutdown)))
      (advice-remove 'jsonrpc-request record)
      (auth-source-forget-all-cached)
      (pwnm-sync-shutdown)
      (delete-directory dir t))))

(ert-deftest pwnm-sync-test-l-mode-off-restores ()
  "Mode off puts back the user's key bindings and sections; it never edits the user's lists."
  (let* ((sections (list #'notmuch-hello-insert-header #'notmuch-hello-insert-saved-searches
                         #'notmuch-hello-insert-footer))
         (copy (copy-sequence sections))
         (mine (make-sparse-keymap)))
    (pwnm-sync-mode -1)
    (unwind-protect
        (let ((notmuch-hello-sections sections))
          (define-key notmuch-show-mode-map pwnm-sync-key-prefix mine)
          (pwnm-sync-mode 1)
          (should (equal sections copy))
          (should (equal notmuch-hello-sections
                         (list #'notmuch-hello-insert-header #'notmuch-hello-insert-saved-searches
                               #'pwnm-sync-hello-insert #'notmuch-hello-insert-footer)))
          (should (eq (lookup-key notmuch-show-mode-map pwnm-sync-key-prefix) pwnm-sync-state-map))
          (pwnm-sync-mode -1)
          (should (eq (lookup-key notmuch-show-mode-map pwnm-sync-key-prefix) mine))
          (should (eq notmuch-hello-sections sections))
          (should (equal sections copy)))
      (define-key notmuch-show-mode-map pwnm-sync-key-prefix nil)
      (pwnm-sync-mode 1))))

(ert-deftest pwnm-sync-test-m-auto-sync-errors ()
  "Automatic sync failures go to the log each time, to the echo area once per kind."
  (pwnm-sync-shutdown)
  (let ((pwnm-sync--auto-sync-errors-shown nil)
        (log-before (pwnm-sync-test--count "automatic sync failed" (pwnm-sync-test--log)))
        (shown-before (pwnm-sync-test--count "Automatic sync failed" (pwnm-sync-test--messages))))
    ;; Two kinds: a server that never answers initialize, and no way to find one.
    ;; (Not a missing program: writing to its dead pipe gets a batch Emacs SIGPIPE.)
    (let ((pwnm-sync-server-command (list "sleep" "60"))
          (jsonrpc-default-request-timeout 1))
      (pwnm-sync--auto-sync)
      (pwnm-sync--auto-sync))
    (let ((pwnm-sync-server-command nil)
          (exec-path nil))
      (pwnm-sync--auto-sync)
      (pwnm-sync--auto-sync))
    (should (= (pwnm-sync-test--count "automatic sync failed" (pwnm-sync-test--log)) (+ log-before 4)))
    (should (= (pwnm-sync-test--count "\\[pwnm-sync\\] Automatic sync failed" (pwnm-sync-test--messages)) (+ shown-before 2)))
    ;; A third kind, from the server: it refuses the timer's sync while another process syncs the same state database.
    (pwnm-sync-test--while "/delay?ms=1000" "/delay?ms=0"
      (let ((other (apply #'start-process "other-sync" nil
                          (append (butlast (pwnm-sync--server-command))
                                  (list "-c" (getenv "PWNM_TEST_CONFIG") "sync" "--full"))))
            (lock (with-temp-buffer
                    (insert-file-contents (getenv "PWNM_TEST_CONFIG"))
                    (re-search-forward "^state_db = \\(.*\\)$")
                    (concat (match-string 1) ".lock"))))
        (unwind-protect
            (progn
              (should (pwnm-sync-test--wait (lambda () (file-exists-p lock)) 10))
              (dotimes (_ 2)
                (pwnm-sync--auto-sync)
                (should (pwnm-sync-test--wait (lambda () (not pwnm-sync--sync-running)) 30)))
              (should (pwnm-sync-test--wait (lambda () (not (process-live-p other))) 60)))
          (when (process-live-p other) (kill-process other)))))
    (should (= (pwnm-sync-test--count "automatic sync failed: another pwnm-sync (pid [0-9]+) is syncing" (pwnm-sync-test--log)) 2))
    (should (= (pwnm-sync-test--count "\\[pwnm-sync\\] Automatic sync failed" (pwnm-sync-test--messages)) (+ shown-before 3)))))

(ert-deftest pwnm-sync-test-z-shutdown ()
  "The server stops cleanly."
  (pwnm-sync--connect)
  (let ((proc (jsonrpc--process pwnm-sync--connection)))
    (pwnm-sync-shutdown)
    (should (pwnm-sync-test--wait (lambda () (not (process-live-p proc)))))))

(provide 'pwnm-sync-tests)
;;; pwnm-sync-tests.el ends here
