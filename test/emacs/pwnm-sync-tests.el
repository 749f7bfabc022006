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

(defconst pwnm-sync-test--not-state
  "^pw-[^-]+-\\(check-\\|delegate\\|bundle\\|\\(archived\\|acked\\|reviewed\\|tested\\|replied\\|thanked\\)$\\)"
  "What a pw-PROJECT- tag that is not a state tag matches.")

(defun pwnm-sync-test--state-tags (msgid)
  "Return the pw-skiboot- state tags of MSGID.
Not the other families: checks, delegation, archived, bundles, review
trailers, thanked."
  (seq-filter (lambda (tag) (and (string-prefix-p "pw-skiboot-" tag)
                                 (not (string-match-p pwnm-sync-test--not-state tag))))
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

(defun pwnm-sync-test--connect ()
  "Start the server if needed and wait until it answered initialize."
  (pwnm-sync--with-connection #'ignore)
  (should (pwnm-sync-test--wait (lambda () (and pwnm-sync--connection (pwnm-sync--info pwnm-sync--connection))) 30)))

(defun pwnm-sync-test--idle ()
  "Wait until no pwnm-sync request is in flight."
  (should (pwnm-sync-test--wait (lambda () (zerop (hash-table-count pwnm-sync--requests))) 60)))

(defun pwnm-sync-test--patch-info (msgid)
  "Run `pwnm-sync-patch-info' on MSGID and return the text it shows."
  (when (get-buffer "*pwnm-sync patch*") (kill-buffer "*pwnm-sync patch*"))
  (pwnm-sync-patch-info msgid)
  (should (pwnm-sync-test--wait (lambda () (get-buffer "*pwnm-sync patch*"))))
  (with-current-buffer "*pwnm-sync patch*" (buffer-string)))

(defun pwnm-sync-test--press (keys)
  "Press KEYS in the current buffer."
  (execute-kbd-macro (kbd keys)))

(defun pwnm-sync-test--show-windows ()
  "Run what redisplay runs after a window changed buffer.
A batch Emacs never redisplays, so `window-buffer-change-functions'
is run here as redisplay would run it."
  (run-hook-with-args 'window-buffer-change-functions (selected-frame)))

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
  "Y c in notmuch-search acts on the thread's patch, asking which when several."
  (let* ((msgid (pwnm-sync-test--fresh-patch))
         (subject (plist-get (car (notmuch-call-notmuch-sexp "search" "--output=summary" "--format=sexp"
                                                             (notmuch-id-to-query msgid)))
                             :subject))
         (others (remove msgid (notmuch-call-notmuch-sexp "search" "--output=messages" "--format=sexp"
                                                          (format "thread:{id:%s} and tag:patchwork" msgid))))
         (asked nil))
    (notmuch-search (notmuch-id-to-query msgid))
    (should (pwnm-sync-test--wait (lambda () (not (get-buffer-process (current-buffer))))))
    (goto-char (point-min))
    (cl-letf (((symbol-function 'completing-read)
               (lambda (prompt &rest _) (setq asked prompt) subject)))
      (pwnm-sync-test--press "Y c"))
    (should (eq (and asked t) (and others t)))
    (should (pwnm-sync-test--wait (lambda () (equal (pwnm-sync-test--server-state msgid) "changes-requested"))))
    (pwnm-sync-test--idle)
    (dolist (other others)
      (should-not (equal (pwnm-sync-test--server-state other) "changes-requested")))))

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
         (text (pwnm-sync-test--patch-info msgid)))
    (should (string-match-p "^skiboot (sandbox), patch [0-9]+$" text))
    (should (string-match-p "State: +New" text))))

(defun pwnm-sync-test--pending-line (msgid)
  "Move to the line of MSGID's item in the pending buffer; return non-nil if there."
  (goto-char (point-min))
  (let ((found nil))
    (while (and (not found) (not (eobp)))
      (if (equal (plist-get (seq-find (lambda (i) (equal (plist-get i :id) (tabulated-list-get-id)))
                                      pwnm-sync--pending-items)
                            :messageId)
                 msgid)
          (setq found t)
        (forward-line 1)))
    found))

(ert-deftest pwnm-sync-test-a-pending ()
  "The pending buffer lists what waits and drops it."
  (let ((msgid (pwnm-sync-test--fresh-patch)))
    (pwnm-sync-test--while "/maintainer?on=0" "/maintainer?on=1"
      (notmuch-tag (notmuch-id-to-query msgid) '("+pw-skiboot-superseded" "-pw-skiboot-new"))
      (should (pwnm-sync-test--wait (lambda () (string-match-p (concat "push skiboot " (regexp-quote msgid) ": refused") (pwnm-sync-test--log))))))
    (pwnm-sync-pending)
    (with-current-buffer "*pwnm-sync pending*"
      (should (pwnm-sync-test--wait (lambda () (pwnm-sync-test--pending-line msgid))))
      (pwnm-sync-pending-drop (tabulated-list-get-id))
      (should (pwnm-sync-test--wait (lambda () (not (pwnm-sync-test--pending-line msgid))))))))

(ert-deftest pwnm-sync-test-b-restart ()
  "A crashed server is restarted by the next command, which gets its answer."
  (pwnm-sync-test--connect)
  (let ((proc (jsonrpc--process pwnm-sync--connection)))
    (kill-process proc)
    (should (pwnm-sync-test--wait (lambda () (null pwnm-sync--connection))))
    (let* ((msgid (pwnm-sync-test--fresh-patch))
           (sandbox (pwnm-sync-test--control (concat "/patch?msgid=" (url-hexify-string msgid))))
           (text (pwnm-sync-test--patch-info msgid)))
      (should (string-match-p (format "^skiboot (sandbox), patch %d$" (plist-get sandbox :id)) text))
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
      (should conn)
      (should (= (seq-count (lambda (r) (equal (plist-get r :label) "sync")) (hash-table-values pwnm-sync--requests)) 1)))
    (should (pwnm-sync-test--wait (lambda () (not pwnm-sync--sync-running)) 60))))

(ert-deftest pwnm-sync-test-d-long-sync ()
  "A sync longer than jsonrpc's 10 s default keeps Emacs responsive.
The command returns to the command loop before the server answers: a
timer would also fire inside a synchronous wait, so the test times the
command itself."
  :tags '(:slow)
  (pwnm-sync-test--while "/delay?ms=4000" "/delay?ms=0"
    (let* ((log-start (with-current-buffer (get-buffer-create "*pwnm-sync*") (point-max)))
           (fresh-log (lambda () (with-current-buffer "*pwnm-sync*" (buffer-substring-no-properties log-start (point-max)))))
           (started (float-time))
           (returned (progn (pwnm-sync t) (- (float-time) started))))
      (message "test figure: long sync: the command returned after %.3f s" returned)
      ;; Back while the sync runs on: no summary yet, Patchwork takes 4 s a request.
      (should (< returned 1))
      (should pwnm-sync--sync-running)
      (should-not (string-match-p "sync: skiboot" (funcall fresh-log)))
      (should (pwnm-sync-test--wait (lambda () (not pwnm-sync--sync-running)) 120))
      (should (> (- (float-time) started) 10))
      (should (string-match-p "sync: skiboot: 0 retagged" (funcall fresh-log))))))

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
    (pwnm-sync-test--idle)
    (should (equal (plist-get (pwnm-sync-test--control (concat "/patch?msgid=" (url-hexify-string msgid))) :delegate) "maint"))
    (should (member "pw-skiboot-delegated" (pwnm-sync-test--tags msgid)))))

(ert-deftest pwnm-sync-test-h-info-checks ()
  "The patch facts show CI results per context, delegate and series."
  (let ((msgid (pwnm-sync-test--fresh-patch)))
    (pwnm-sync-test--control (concat "/check?state=fail&context=ci-build&url=" (url-hexify-string "https://ci.example.org/42") "&msgid=" (url-hexify-string msgid)))
    (pwnm-sync-test--synced)
    (should (member "pw-skiboot-check-fail" (pwnm-sync-test--tags msgid)))
    (pwnm-sync-delegate-to-me msgid)
    (pwnm-sync-test--idle)
    (should (equal (plist-get (pwnm-sync-test--control (concat "/patch?msgid=" (url-hexify-string msgid))) :delegate) "maint"))
    (let ((text (pwnm-sync-test--patch-info msgid)))
      (should (string-match-p "CI: +fail" text))
      (should (string-match-p "fail +ci-build https://ci.example.org/42" text))
      (should (string-match-p "Delegate: maint$" text))
      (should (string-match-p "Series: +v[0-9]+ [0-9]+/[0-9]+" text)))))

(defun pwnm-sync-test--untouched-series ()
  "Return the msgids of a series of two or more patches, all still `new'."
  (let ((groups (seq-group-by (lambda (p) (plist-get p :series)) (append (pwnm-sync-test--control "/patches") nil))))
    (mapcar (lambda (p) (plist-get p :msgid))
            (cdr (seq-find (lambda (g) (and (cddr g) (seq-every-p (lambda (p) (equal (plist-get p :state) "new")) (cdr g))))
                           groups)))))

(defmacro pwnm-sync-test--answering (answer prompts &rest body)
  "Run BODY with `y-or-n-p' answering ANSWER, pushing each prompt onto PROMPTS."
  (declare (indent 2) (debug t))
  `(cl-letf (((symbol-function 'y-or-n-p) (lambda (prompt) (push prompt ,prompts) ,answer)))
     ,@body))

(ert-deftest pwnm-sync-test-i-series-key ()
  "C-u Y c sets the state of every patch of the series, after asking."
  (let ((series (pwnm-sync-test--untouched-series))
        (prompts nil))
    (should (cdr series))
    (notmuch-show (notmuch-id-to-query (car series)))
    (pwnm-sync-test--answering t prompts
      (pwnm-sync-test--press "C-u Y c")
      (pwnm-sync-test--idle))
    (should (= (length prompts) 1))
    (should (string-match-p (format "Set these %d patches to changes-requested" (length series)) (car prompts)))
    (dolist (msgid series)
      (should (equal (pwnm-sync-test--server-state msgid) "changes-requested"))
      (should (equal (pwnm-sync-test--state-tags msgid) '("pw-skiboot-changes-requested"))))))

(defun pwnm-sync-test--thread-patches (msgid)
  "Return the msgids of the patches in the thread of MSGID."
  (notmuch-call-notmuch-sexp "search" "--output=messages" "--format=sexp"
                             (format "thread:{id:%s} and tag:patchwork" msgid)))

(defun pwnm-sync-test--all-new-p (msgids)
  "Return non-nil if the patches MSGIDS are all `new' on the sandbox."
  (seq-every-p (lambda (m) (equal (pwnm-sync-test--server-state m) "new")) msgids))

(ert-deftest pwnm-sync-test-j-cover-letter ()
  "On a cover letter a state key sets its series, after a question listing the patches."
  (let* ((covers (seq-filter
                  (lambda (id)
                    (let ((patches (pwnm-sync-test--thread-patches id)))
                      (and (cdr patches) (pwnm-sync-test--all-new-p patches))))
                  (notmuch-call-notmuch-sexp "search" "--output=messages" "--format=sexp" "not tag:patchwork and not subject:Re")))
         (cover (car covers))
         (patches (pwnm-sync-test--thread-patches cover))
         (prompts nil))
    (should cover)
    (notmuch-show (notmuch-id-to-query cover))
    (goto-char (point-min))
    ;; Answering no changes nothing.
    (pwnm-sync-test--answering nil prompts
      (pwnm-sync-test--press "Y r")
      (pwnm-sync-test--idle))
    (should (= (length prompts) 1))
    (should (pwnm-sync-test--all-new-p patches))
    ;; The question names how many and each patch's subject (Patchwork's name for it).
    (should (string-match-p (format "Set these %d patches to rejected" (length patches)) (car prompts)))
    (dolist (msgid patches)
      (let ((subject (plist-get (car (notmuch-call-notmuch-sexp "search" "--output=summary" "--format=sexp"
                                                                (notmuch-id-to-query msgid)))
                                :subject)))
        ;; Patchwork keeps the subject without its [PATCH n/m] prefix.
        (should (string-match-p (regexp-quote (replace-regexp-in-string "^\\[[^]]*\\] *" "" subject)) (car prompts)))))
    (pwnm-sync-test--answering t prompts
      (pwnm-sync-test--press "Y r")
      (pwnm-sync-test--idle))
    (dolist (msgid patches)
      (should (pwnm-sync-test--wait (lambda () (equal (pwnm-sync-test--server-state msgid) "rejected")))))))

(ert-deftest pwnm-sync-test-ja-reply ()
  "On a review reply a state key sets only the patch it replies to."
  (let* ((replies (seq-filter
                   (lambda (id)
                     (let ((patches (pwnm-sync-test--thread-patches id)))
                       (and (cddr patches) (pwnm-sync-test--all-new-p patches))))
                   (notmuch-call-notmuch-sexp "search" "--output=messages" "--format=sexp" "not tag:patchwork and subject:Re")))
         (reply (car replies))
         ;; The generator names a reply after its patch: PATCH-LOCAL.reply@HOST.
         (prefix (concat (car (split-string reply "\\.reply@")) "@"))
         (patches (pwnm-sync-test--thread-patches reply))
         (parent (seq-find (lambda (m) (string-prefix-p prefix m)) patches)))
    (should reply)
    (should parent)
    (notmuch-show (notmuch-id-to-query (car patches)))
    (goto-char (point-min))
    (notmuch-show-goto-message (notmuch-id-to-query reply))
    (should (equal (notmuch-show-get-message-id t) reply))
    (pwnm-sync-test--press "Y c")
    (should (pwnm-sync-test--wait (lambda () (equal (pwnm-sync-test--server-state parent) "changes-requested"))))
    (pwnm-sync-test--idle)
    (should (equal (pwnm-sync-test--state-tags parent) '("pw-skiboot-changes-requested")))
    (should (string-match-p "-> changes-requested" (pwnm-sync-test--messages)))
    (dolist (msgid (remove parent patches))
      (should (equal (pwnm-sync-test--server-state msgid) "new"))
      (should (equal (pwnm-sync-test--state-tags msgid) '("pw-skiboot-new"))))))

(ert-deftest pwnm-sync-test-jb-undo ()
  "Y a then `notmuch-tag-undo' leaves the old state, in notmuch and on Patchwork."
  (let ((msgid (pwnm-sync-test--fresh-patch)))
    (notmuch-show (notmuch-id-to-query msgid))
    (pwnm-sync-test--press "Y a")
    (should (pwnm-sync-test--wait (lambda () (equal (pwnm-sync-test--server-state msgid) "accepted"))))
    (pwnm-sync-test--idle)
    (notmuch-tag-undo)
    (should (equal (pwnm-sync-test--state-tags msgid) '("pw-skiboot-new")))
    (should (pwnm-sync-test--wait (lambda () (equal (pwnm-sync-test--server-state msgid) "new"))))
    (pwnm-sync-test--idle)
    (should (equal (pwnm-sync-test--state-tags msgid) '("pw-skiboot-new")))))

(ert-deftest pwnm-sync-test-k-one-initialize ()
  "A connect sends initialize once; auth-source tokens follow with setTokens."
  (pwnm-sync-shutdown)
  (let* ((dir (make-temp-file "pwnm-sync-test" t))
         (config (expand-file-name "read-only.ini" dir))
         (authinfo (expand-file-name "authinfo" dir))
         (token nil)
         (sent nil)
         (record (lambda (_conn method &rest _) (push method sent)))
         (asked 0)
         (count-asks (lambda (&rest _) (cl-incf asked))))
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
          (advice-add 'jsonrpc-async-request :before record)
          (advice-add 'auth-source-search :before count-asks)
          (let ((pwnm-sync-config-file config)
                (auth-sources (list authinfo)))
            (auth-source-forget-all-cached)
            (pwnm-sync-test--connect)
            ;; Starting asks auth-source nothing: only a command that writes does.
            (should (equal (reverse sent) '(:initialize)))
            (should (= asked 0))
            (pwnm-sync-push (notmuch-id-to-query (pwnm-sync-test--fresh-patch)))
            (should (equal (reverse sent) '(:initialize :setTokens :push)))
            (should (= asked 1))
            (pwnm-sync-test--idle)
            (should (eq (plist-get (seq-first (plist-get (pwnm-sync--info pwnm-sync--connection) :instances)) :readOnly)
                        :json-false))
            ;; The token is in no buffer: not the events log (which jsonrpc's
            ;; public API can only turn off as a whole: it logs no message,
            ;; though jsonrpc 1.0.14 copies the server's stderr there), not
            ;; ours, not the server's stderr.
            (should-not (with-current-buffer (jsonrpc-events-buffer pwnm-sync--connection)
                          (string-match-p "initialize\\|setTokens\\|:push" (buffer-string))))
            (dolist (buffer (list (jsonrpc-events-buffer pwnm-sync--connection) "*pwnm-sync*" "*pwnm-sync stderr*"))
              (with-current-buffer (get-buffer-create buffer)
                (should-not (string-match-p (regexp-quote token) (buffer-string)))))
            (pwnm-sync-shutdown)))
      (advice-remove 'jsonrpc-async-request record)
      (advice-remove 'auth-source-search count-asks)
      (auth-source-forget-all-cached)
      (pwnm-sync-shutdown)
      (delete-directory dir t))))

;; Issue 27: the first automatic sync raised the auth-source prompt.
(ert-deftest pwnm-sync-test-k-auto-sync-no-prompt ()
  "A sync from the timer never asks auth-source: without a token in the
config it runs read-only and says so in *pwnm-sync*; a sync you start asks."
  (pwnm-sync-shutdown)
  (let* ((dir (make-temp-file "pwnm-sync-test" t))
         (config (expand-file-name "read-only.ini" dir))
         (authinfo (expand-file-name "authinfo" dir))
         (sent nil)
         (record (lambda (_conn method &rest _) (push method sent)))
         (asked 0)
         (count-asks (lambda (&rest _) (cl-incf asked)))
         (said "automatic sync: sandbox is read-only: no token in the config, and the timer does not ask auth-source (a sync you start does)"))
    (unwind-protect
        (progn
          (with-temp-buffer
            (insert-file-contents (getenv "PWNM_TEST_CONFIG"))
            (goto-char (point-min))
            (re-search-forward "^token = \\(.*\\)\n")
            (let ((token (match-string 1)))
              (replace-match "")
              (write-region nil nil config)
              (with-temp-file authinfo (insert (format "machine 127.0.0.1 password %s\n" token)))))
          (advice-add 'jsonrpc-async-request :before record)
          (advice-add 'auth-source-search :before count-asks)
          (with-current-buffer (get-buffer-create "*pwnm-sync*") (let ((inhibit-read-only t)) (erase-buffer)))
          (let ((pwnm-sync-config-file config)
                (auth-sources (list authinfo))
                (pwnm-sync--auto-sync-errors-shown nil))
            (auth-source-forget-all-cached)
            (pwnm-sync--auto-sync)
            (should (pwnm-sync-test--wait (lambda () (and (not pwnm-sync--sync-running) (memq :sync sent))) 60))
            (should (pwnm-sync-test--wait (lambda () (string-match-p (regexp-quote said) (pwnm-sync-test--log))) 30))
            (should (= asked 0))
            (should-not (memq :setTokens sent))
            ;; A sync you start asks auth-source once, and hands the token over.
            (pwnm-sync)
            (should (pwnm-sync-test--wait (lambda () (not pwnm-sync--sync-running)) 60))
            (should (= asked 1))
            (should (memq :setTokens sent))
            (pwnm-sync-shutdown)))
      (advice-remove 'jsonrpc-async-request record)
      (advice-remove 'auth-source-search count-asks)
      (auth-source-forget-all-cached)
      (pwnm-sync-shutdown)
      (delete-directory dir t))))

(defun pwnm-sync-test--start-failure (command)
  "Start the server from COMMAND, which fails, as a hello redraw would.
Check the failure is told once, naming COMMAND's program, in the echo
area and hello; and that redraws start nothing more.  Return the text."
  (let ((pwnm-sync-server-command command)
        (pwnm-sync--start-failure nil)
        (pwnm-sync--facts nil)
        (pwnm-sync--facts-loaded t)
        (starts 0)
        (said (pwnm-sync-test--count "\\[pwnm-sync\\] The server did not start" (pwnm-sync-test--messages))))
    (cl-letf* ((start (symbol-function 'pwnm-sync--start))
               ((symbol-function 'pwnm-sync--start)
                (lambda () (cl-incf starts) (funcall start))))
      (notmuch-hello)
      (should (pwnm-sync-test--wait (lambda () pwnm-sync--start-failure) 15))
      (should (string-match-p (regexp-quote (car command)) pwnm-sync--start-failure))
      ;; hello is redrawn from a timer, a moment later.
      (should (pwnm-sync-test--wait
               (lambda ()
                 (with-current-buffer "*notmuch-hello*"
                   (string-match-p (concat "^Patchwork: the pwnm-sync server did not start: "
                                           (regexp-quote pwnm-sync--start-failure))
                                   (buffer-string))))
               5))
      ;; Redraws start nothing; a command tries once more and says why it cannot.
      (dotimes (_ 3)
        (with-current-buffer "*notmuch-hello*" (notmuch-hello-update))
        (pwnm-sync-test--wait #'ignore 0.3))
      (should (= starts 1))
      (should (string-match-p "did not start" (cadr (should-error (pwnm-sync--projects) :type 'user-error))))
      (pwnm-sync-test--wait #'ignore 1)
      (should (= starts 2))
      (should (= (pwnm-sync-test--count "\\[pwnm-sync\\] The server did not start" (pwnm-sync-test--messages))
                 (1+ said)))
      (prog1 pwnm-sync--start-failure
        (pwnm-sync-shutdown)))))

(ert-deftest pwnm-sync-test-ka-start-failure ()
  "A missing server and one that exits at once: one clear message, no respawn.
The message names the command and the server's first stderr line;
hello shows it instead of waiting; `pwnm-sync-events' shows the stderr."
  (pwnm-sync-shutdown)
  (let* ((dir (make-temp-file "pwnm-sync-test" t))
         (missing (expand-file-name "no-such-server" dir))
         (dies (expand-file-name "dies" dir)))
    (unwind-protect
        (progn
          (should (string-match-p "is not an executable program" (pwnm-sync-test--start-failure (list missing "serve"))))
          ;; It reads the initialize request first: writing to a dead pipe would end a batch Emacs.
          (with-temp-file dies
            (insert "#!/bin/sh\nsleep 0.3\necho 'pwnm-sync: cannot read /nowhere/config.ini' >&2\necho 'second line' >&2\nexit 3\n"))
          (set-file-modes dies #o755)
          (let ((failure (pwnm-sync-test--start-failure (list dies "serve"))))
            (should (string-match-p "cannot read /nowhere/config.ini" failure))
            (should-not (string-match-p "second line" failure)))
          (pwnm-sync-events)
          (should (string-match-p "second line" (buffer-string))))
      (delete-directory dir t)
      (when (get-buffer "*notmuch-hello*") (kill-buffer "*notmuch-hello*")))))

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
          (should (eq (lookup-key notmuch-show-mode-map pwnm-sync-key-prefix) #'pwnm-sync-dispatch))
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
      (dotimes (_ 2)
        (pwnm-sync--auto-sync)
        (should (pwnm-sync-test--wait (lambda () (not pwnm-sync--sync-running)) 10))))
    (let ((pwnm-sync-server-command nil)
          (exec-path nil))
      (dotimes (_ 2)
        (pwnm-sync--auto-sync)
        (should (pwnm-sync-test--wait (lambda () (not pwnm-sync--sync-running)) 10))))
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

;;; Emacs never waits on the network

(defun pwnm-sync-test--inflight ()
  "Return the sandbox's requests now waiting out the delay, and those abandoned."
  (pwnm-sync-test--control "/inflight"))

(defun pwnm-sync-test--returns-at-once (name command)
  "Run COMMAND, a function, and check that Emacs did not wait on it.
A timer set for 0.1 s after COMMAND returned must fire within 0.5 s of
its start.  NAME goes in the log with the figure.  Redraws already
due from earlier news (a timer 0.3 s after it) happen first: they are
not COMMAND's."
  (should (pwnm-sync-test--wait (lambda () (not pwnm-sync--refresh-timer)) 5))
  (let ((start (float-time))
        (fired nil))
    (funcall command)
    (run-with-timer 0.1 nil (lambda () (setq fired (float-time))))
    (should (pwnm-sync-test--wait (lambda () fired) 30))
    (message "test figure: %s: the 0.1 s timer fired %.3f s after the command started" name (- fired start))
    (should (< (- fired start) 0.5))))

(defun pwnm-sync-test--cancel-stops-server (command)
  "Run COMMAND; once the server waits on Patchwork, cancel it.
Then nothing runs on: Emacs got its answer, and the sandbox saw the
server abandon the HTTP request before the delay ended."
  (let ((abandoned (plist-get (pwnm-sync-test--inflight) :abandoned)))
    (funcall command)
    (should (pwnm-sync-test--wait (lambda () (> (plist-get (pwnm-sync-test--inflight) :delaying) 0)) 60))
    (pwnm-sync-cancel)
    (pwnm-sync-test--idle)
    (should (pwnm-sync-test--wait (lambda () (let ((now (pwnm-sync-test--inflight)))
                                               (and (= (plist-get now :delaying) 0)
                                                    (> (plist-get now :abandoned) abandoned))))
                                  10))))

(defun pwnm-sync-test--show-and-press (msgid keys)
  "Show MSGID and press KEYS there."
  (notmuch-show (notmuch-id-to-query msgid))
  (pwnm-sync-test--press keys))

(defun pwnm-sync-test--pending-id (msgid)
  "Return the id of MSGID's item in the pending list."
  (pwnm-sync-pending)
  (with-current-buffer "*pwnm-sync pending*"
    (should (pwnm-sync-test--wait (lambda () (pwnm-sync-test--pending-line msgid))))
    (tabulated-list-get-id)))

(defun pwnm-sync-test--commit-naming (msgid)
  "Return a new git repository whose one commit names MSGID in a trailer."
  (let ((default-directory (file-name-as-directory (make-temp-file "pwnm-sync-git" t))))
    (process-lines "git" "init" "-q")
    (write-region "one\n" nil "file")
    (process-lines "git" "add" "file")
    (process-lines "git" "-c" "user.name=T" "-c" "user.email=t@example.org" "commit" "-q"
                   "-m" (format "Take the patch\n\nMessage-Id: <%s>" msgid))
    (write-region "two\n" nil "file")
    (process-lines "git" "-c" "user.name=T" "-c" "user.email=t@example.org" "commit" "-q" "-a"
                   "-m" (format "Take the patch\n\nMessage-Id: <%s>" msgid))
    default-directory))

(ert-deftest pwnm-sync-test-n-never-waits ()
  "Every command returns at once while Patchwork takes 2 s a request.
A timer set 0.1 s after the command fires within 0.5 s, the result
then arrives, and `pwnm-sync-cancel' during the wait leaves no request
running on the server."
  :tags '(:slow)
  (pwnm-sync-test--synced)
  (let* ((news (mapcar (lambda (p) (plist-get p :msgid)) (pwnm-sync-test--patches "new")))
         (retry-a (nth 0 news)) (retry-b (nth 1 news))
         (state-a (nth 2 news)) (state-b (nth 3 news))
         (info (nth 4 news))
         (accept-a (nth 5 news)) (accept-b (nth 6 news))
         (repo-a (pwnm-sync-test--commit-naming accept-a))
         (repo-b (pwnm-sync-test--commit-naming accept-b))
         (opened nil)
         (browse-url-browser-function (lambda (url &rest _) (setq opened url))))
    (should accept-b)
    ;; Two pushes Patchwork could not take, to retry.
    (pwnm-sync-test--while "/fault?on=1" "/fault?on=0"
      (dolist (msgid (list retry-a retry-b))
        (notmuch-tag (notmuch-id-to-query msgid) '("+pw-skiboot-deferred" "-pw-skiboot-new"))
        (should (pwnm-sync-test--wait (lambda () (string-match-p (concat "push skiboot " (regexp-quote msgid) ": queued") (pwnm-sync-test--log))) 60))))
    (let ((retry-a-id (pwnm-sync-test--pending-id retry-a))
          (retry-b-id (pwnm-sync-test--pending-id retry-b)))
      (unwind-protect
          (progn
            (pwnm-sync-test--control "/delay?ms=2000")
            ;; State change.
            (pwnm-sync-test--returns-at-once "state change" (lambda () (pwnm-sync-test--show-and-press state-a "Y a")))
            (should (pwnm-sync-test--wait (lambda () (equal (pwnm-sync-test--server-state state-a) "accepted")) 60))
            (pwnm-sync-test--cancel-stops-server (lambda () (pwnm-sync-test--show-and-press state-b "Y u")))
            (should (equal (pwnm-sync-test--server-state state-b) "new"))
            ;; Series change.
            (let ((series (pwnm-sync-test--untouched-series)))
              (should (cdr series))
              ;; Not the question before changing several patches (test i asks it): only the wait.
              (let ((pwnm-sync-confirm-several nil))
                (pwnm-sync-test--returns-at-once "series change" (lambda () (pwnm-sync-test--show-and-press (car series) "C-u Y w"))))
              (dolist (msgid series)
                (should (pwnm-sync-test--wait (lambda () (equal (pwnm-sync-test--server-state msgid) "awaiting-upstream")) 60)))
              ;; Patchwork has the state before the server's progress note reaches Emacs.
              (should (pwnm-sync-test--wait
                       (lambda () (string-match-p (format "\\[pwnm-sync\\] Series: %d/%d awaiting-upstream" (length series) (length series))
                                                  (pwnm-sync-test--messages)))
                       30)))
            (let ((series (pwnm-sync-test--untouched-series)))
              (should (cdr series))
              (let ((pwnm-sync-confirm-several nil))
                (pwnm-sync-test--cancel-stops-server (lambda () (pwnm-sync-test--show-and-press (car series) "C-u Y d"))))
              (dolist (msgid series) (should (equal (pwnm-sync-test--server-state msgid) "new"))))
            ;; Patch info (its CI results come from Patchwork).
            (when (get-buffer "*pwnm-sync patch*") (kill-buffer "*pwnm-sync patch*"))
            (pwnm-sync-test--returns-at-once "patch info" (lambda () (pwnm-sync-patch-info info)))
            (should (pwnm-sync-test--wait (lambda () (get-buffer "*pwnm-sync patch*")) 60))
            (pwnm-sync-test--cancel-stops-server (lambda () (pwnm-sync-patch-info info)))
            ;; Browse: the web address is in the state database; Patchwork is not asked.
            (let ((requests (plist-get (pwnm-sync-test--inflight) :requests)))
              (pwnm-sync-test--returns-at-once "browse" (lambda () (pwnm-sync-browse info)))
              (should (pwnm-sync-test--wait (lambda () opened) 30))
              (should (string-match-p (concat "/patch/" (regexp-quote info)) opened))
              (should (= (plist-get (pwnm-sync-test--inflight) :requests) requests)))
            ;; Pending retry.
            (pwnm-sync-test--returns-at-once "retry" (lambda () (pwnm-sync-pending-retry retry-a-id)))
            (should (pwnm-sync-test--wait (lambda () (equal (pwnm-sync-test--server-state retry-a) "deferred")) 60))
            (pwnm-sync-test--cancel-stops-server (lambda () (pwnm-sync-pending-retry retry-b-id)))
            (should (equal (pwnm-sync-test--server-state retry-b) "new"))
            ;; Accept from git.
            (pwnm-sync-test--returns-at-once "accept-from-git" (lambda () (pwnm-sync-accept-from-git repo-a "HEAD~1..HEAD")))
            (should (pwnm-sync-test--wait (lambda () (equal (pwnm-sync-test--server-state accept-a) "accepted")) 60))
            (pwnm-sync-test--cancel-stops-server (lambda () (pwnm-sync-accept-from-git repo-b "HEAD~1..HEAD")))
            (should (equal (pwnm-sync-test--server-state accept-b) "new"))
            ;; Sync.
            (pwnm-sync-test--returns-at-once "sync" (lambda () (pwnm-sync)))
            (should (pwnm-sync-test--wait (lambda () (not pwnm-sync--sync-running)) 120))
            (pwnm-sync-test--cancel-stops-server (lambda () (pwnm-sync t)))
            (should-not pwnm-sync--sync-running))
        (pwnm-sync-test--control "/delay?ms=0")
        (delete-directory repo-a t)
        (delete-directory repo-b t)))))

(ert-deftest pwnm-sync-test-n-never-waits-more ()
  "Y A, Y m, Y B, Y D and the pending list return at once too.
Patchwork takes 2 s a request; each result then arrives."
  :tags '(:slow)
  (pwnm-sync-test--synced)
  (let* ((news (mapcar (lambda (p) (plist-get p :msgid)) (pwnm-sync-test--patches "new")))
         (msgid (nth 0 news)) (other (nth 1 news))
         (patch (lambda () (pwnm-sync-test--control (concat "/patch?msgid=" (url-hexify-string msgid))))))
    (should other)
    (pwnm-sync-test--while "/delay?ms=2000" "/delay?ms=0"
      (pwnm-sync-test--returns-at-once "archive" (lambda () (pwnm-sync-test--show-and-press msgid "Y A")))
      (should (pwnm-sync-test--wait (lambda () (eq (plist-get (funcall patch) :archived) t)) 60))
      (pwnm-sync-test--returns-at-once "delegate" (lambda () (pwnm-sync-test--show-and-press msgid "Y m")))
      (should (pwnm-sync-test--wait (lambda () (equal (plist-get (funcall patch) :delegate) "maint")) 60))
      (cl-letf (((symbol-function 'completing-read) (lambda (&rest _) "never waits")))
        (pwnm-sync-test--returns-at-once "bundle add" (lambda () (pwnm-sync-test--show-and-press msgid "Y B")))
        (should (pwnm-sync-test--wait (lambda () (equal (pwnm-sync-test--bundle "never waits") (list msgid))) 60))
        (pwnm-sync-test--idle)
        (pwnm-sync-test--show-and-press other "Y B")
        (should (pwnm-sync-test--wait (lambda () (equal (pwnm-sync-test--bundle "never waits") (sort (list msgid other) #'string<))) 60))
        (pwnm-sync-test--idle)
        (pwnm-sync-test--returns-at-once "bundle remove" (lambda () (pwnm-sync-test--show-and-press msgid "Y D")))
        (should (pwnm-sync-test--wait (lambda () (equal (pwnm-sync-test--bundle "never waits") (list other))) 60)))
      (pwnm-sync-test--idle)
      (when (get-buffer "*pwnm-sync pending*") (kill-buffer "*pwnm-sync pending*"))
      (pwnm-sync-test--returns-at-once "pending list" #'pwnm-sync-pending)
      (should (pwnm-sync-test--wait (lambda () (get-buffer "*pwnm-sync pending*")) 60))
      (pwnm-sync-test--idle))))

(ert-deftest pwnm-sync-test-o-hello-never-waits ()
  "notmuch-hello with the server not started: under 1.5 s, no process started.
The Patchwork section comes from the facts file and notmuch's counts;
the server starts afterwards, and auth-source is not asked."
  (pwnm-sync-test--synced)
  (pwnm-sync-shutdown)
  ;; Only the file remembers the projects now.
  (setq pwnm-sync--facts nil pwnm-sync--facts-loaded nil)
  (let ((asked 0)
        (count-asks (lambda (&rest _) (cl-incf asked))))
    (advice-add 'auth-source-search :before count-asks)
    (unwind-protect
        (let ((start (float-time)))
          (notmuch-hello)
          (let ((took (- (float-time) start)))
            (message "test figure: notmuch-hello with no server took %.3f s" took)
            ;; A wide bound: it runs on loaded CI machines.  No server
            ;; process right after is what shows it did not wait for one.
            (should (< took 1.5)))
          (should-not pwnm-sync--connection)
          (should-not (seq-some (lambda (p) (string-prefix-p "pwnm-sync" (process-name p))) (process-list)))
          (with-current-buffer "*notmuch-hello*"
            (should (string-match-p "^Patchwork: " (buffer-string)))
            (should (string-match-p "\\b[0-9]+ skiboot new\\b" (buffer-string))))
          (should (pwnm-sync-test--wait (lambda () (and pwnm-sync--connection (pwnm-sync--info pwnm-sync--connection))) 30))
          (should (= asked 0)))
      (advice-remove 'auth-source-search count-asks))))

(ert-deftest pwnm-sync-test-p-refresh-once ()
  "One state change updates only the buffers showing that message, once each.
At once those on screen; a hidden one when a window shows it again."
  (pwnm-sync-test--synced)
  (let* ((news (mapcar (lambda (p) (plist-get p :msgid)) (pwnm-sync-test--patches "new")))
         (thread-of (lambda (m) (notmuch-call-notmuch-sexp "search" "--output=threads" "--format=sexp" (notmuch-id-to-query m))))
         (a (car news))
         (b (seq-find (lambda (m) (not (equal (funcall thread-of m) (funcall thread-of a)))) (cdr news)))
         (retagged nil) (hello 0) (full 0)
         (count-retag (lambda (buffer _hits) (push buffer retagged)))
         (count-hello (lambda () (cl-incf hello)))
         (count-full (lambda (&rest _) (cl-incf full)))
         show-a show-b search-a tree-b)
    (should b)
    ;; Only the buffers made here.
    (dolist (buffer (buffer-list))
      (when (memq (buffer-local-value 'major-mode buffer) '(notmuch-show-mode notmuch-search-mode notmuch-tree-mode))
        (kill-buffer buffer)))
    (notmuch-hello)
    (notmuch-show (notmuch-id-to-query a))
    (setq show-a (current-buffer))
    (notmuch-show (notmuch-id-to-query b))
    (setq show-b (current-buffer))
    (notmuch-search (notmuch-id-to-query a))
    (setq search-a (current-buffer))
    (should (pwnm-sync-test--wait (lambda () (not (get-buffer-process search-a)))))
    (notmuch-tree (notmuch-id-to-query b))
    (setq tree-b (current-buffer))
    (should (pwnm-sync-test--wait (lambda () (not (get-buffer-process tree-b)))))
    (should-not (eq show-a show-b))
    (advice-add 'pwnm-sync--retag-buffer :before count-retag)
    (advice-add 'pwnm-sync--refresh-hello :before count-hello)
    (advice-add 'notmuch-refresh-this-buffer :before count-full)
    (unwind-protect
        (progn
          (switch-to-buffer show-a)
          (pwnm-sync-test--press "Y a")
          (should (pwnm-sync-test--wait (lambda () (string-match-p (concat "push skiboot " (regexp-quote a) ": pushed") (pwnm-sync-test--log)))))
          ;; Time for any later notification to arrive.
          (pwnm-sync-test--idle)
          (accept-process-output nil 1)
          (should (equal retagged (list show-a)))
          (should (= hello 1))
          ;; search-a shows the thread too, but is hidden: retagged when shown.
          (switch-to-buffer search-a)
          (pwnm-sync-test--show-windows)
          (should (pwnm-sync-test--wait (lambda () (memq search-a retagged)) 5))
          (accept-process-output nil 1)
          (should (equal retagged (list search-a show-a)))
          (should (= full 0))
          (with-current-buffer search-a
            (goto-char (point-min))
            ;; The thread's line shows the thread's tags as notmuch has them now.
            (should (member "pw-skiboot-accepted" (notmuch-search-get-tags)))
            (should (equal (sort (copy-sequence (notmuch-search-get-tags)) #'string<)
                           (sort (pwnm-sync--tags-of (car (funcall thread-of a))) #'string<)))))
      (advice-remove 'pwnm-sync--retag-buffer count-retag)
      (advice-remove 'pwnm-sync--refresh-hello count-hello)
      (advice-remove 'notmuch-refresh-this-buffer count-full)
      (dolist (buffer (list show-a show-b search-a tree-b)) (kill-buffer buffer)))))

(ert-deftest pwnm-sync-test-q-keys ()
  "Y is the `pwnm-sync-dispatch' menu; Y ? shows it with the patch's current state.
With `pwnm-sync-use-transient' off, Y is the prefix map, and Y ? lists its keys."
  (should (eq (lookup-key notmuch-show-mode-map pwnm-sync-key-prefix) #'pwnm-sync-dispatch))
  (let ((msgid (pwnm-sync-test--fresh-patch))
        (transient-show-popup 1))
    (notmuch-show (notmuch-id-to-query msgid))
    (when (get-buffer " *transient*") (kill-buffer " *transient*"))
    (pwnm-sync-test--press "Y ?")
    (unwind-protect
        (with-current-buffer " *transient*"
          (should (string-match-p "^Patchwork: New\\b" (buffer-string)))
          (should (string-match-p "\\ba accepted\\b" (buffer-string)))
          (should (string-match-p "\\bk cancel\\b" (buffer-string))))
      (condition-case nil (execute-kbd-macro (kbd "C-g")) (quit nil)))
    (should-not transient--prefix)
    (unwind-protect
        (let ((pwnm-sync-use-transient nil))
          (pwnm-sync-mode -1)
          (pwnm-sync-mode 1)
          (should (eq (lookup-key notmuch-show-mode-map pwnm-sync-key-prefix) pwnm-sync-state-map))
          (notmuch-show (notmuch-id-to-query msgid))
          (when (get-buffer "*pwnm-sync keys*") (kill-buffer "*pwnm-sync keys*"))
          (pwnm-sync-test--press "Y ?")
          (with-current-buffer "*pwnm-sync keys*"
            (should (string-match-p "^Patch at point: skiboot: New$" (buffer-string)))
            (should (string-match-p "pwnm-sync-state-accepted" (buffer-string)))
            (should (string-match-p "pwnm-sync-cancel" (buffer-string)))))
      (pwnm-sync-mode -1)
      (pwnm-sync-mode 1))
    (should (eq (lookup-key notmuch-show-mode-map pwnm-sync-key-prefix) #'pwnm-sync-dispatch))))

(ert-deftest pwnm-sync-test-r-quiet-auto-sync ()
  "A sync from the timer that changes nothing updates no buffer and says nothing."
  (pwnm-sync-test--synced)
  (notmuch-hello)
  (let* ((said nil) (updated 0)
         ;; Only what the log gets from now on: the sync above wrote the same line.
         (log-start (with-current-buffer (get-buffer-create "*pwnm-sync*") (point-max)))
         (fresh-log (lambda () (with-current-buffer "*pwnm-sync*" (buffer-substring-no-properties log-start (point-max)))))
         (record (lambda (format-string &rest args)
                   (when format-string (push (apply #'format format-string args) said))))
         (count (lambda (&rest _) (cl-incf updated))))
    (advice-add 'message :before record)
    (dolist (f '(pwnm-sync--retag-buffer pwnm-sync--refresh-hello notmuch-refresh-this-buffer))
      (advice-add f :before count))
    (unwind-protect
        (progn
          (pwnm-sync--auto-sync)
          (should (pwnm-sync-test--wait
                   (lambda () (string-match-p "sync: skiboot: 0 retagged, 0 pushed" (funcall fresh-log))) 60))
          (should (pwnm-sync-test--wait (lambda () (not pwnm-sync--sync-running)) 60))
          (pwnm-sync-test--idle))
      (advice-remove 'message record)
      (dolist (f '(pwnm-sync--retag-buffer pwnm-sync--refresh-hello notmuch-refresh-this-buffer))
        (advice-remove f count)))
    (should (equal (seq-filter (lambda (m) (string-prefix-p "[pwnm-sync]" m)) said) nil))
    (should (= updated 0))))

(defun pwnm-sync-test--bundle (name)
  "Return the msgids of the sandbox bundle NAME (owned by maint), sorted, or :none."
  (let ((b (seq-find (lambda (b) (equal (plist-get b :name) name))
                     (append (pwnm-sync-test--control "/bundles") nil))))
    (if b (sort (append (plist-get b :msgids) nil) #'string<) :none)))

(ert-deftest pwnm-sync-test-s-bundle-keys ()
  "Y B adds the patch at point to a bundle (a new name creates it); Y D takes it out.
The name is read with completion over your bundles; the tags follow."
  (pwnm-sync-test--synced)
  ;; New patches in no bundle yet (test n-never-waits-more leaves one in its own).
  (let* ((patches (seq-remove (lambda (p) (member "pw-skiboot-bundle" (pwnm-sync-test--tags (plist-get p :msgid))))
                              (pwnm-sync-test--patches "new")))
         (one (plist-get (nth 0 patches) :msgid))
         (two (plist-get (nth 1 patches) :msgid))
         (offered nil))
    (notmuch-show (notmuch-id-to-query one))
    (cl-letf (((symbol-function 'completing-read)
               (lambda (_prompt collection &rest _) (setq offered (all-completions "" collection)) "ert bundle")))
      (pwnm-sync-test--press "Y B"))
    (should (pwnm-sync-test--wait (lambda () (member "pw-skiboot-bundle-ert_bundle" (pwnm-sync-test--tags one)))))
    (should (equal (pwnm-sync-test--bundle "ert bundle") (list one)))
    (should (member "pw-skiboot-bundle" (pwnm-sync-test--tags one)))
    ;; Y i lists the patch's bundles.
    (should (string-match-p "^  Bundles:  ert bundle$" (pwnm-sync-test--patch-info one)))
    ;; The second time, the bundle is offered for completion, and the patch joins it.
    (should (pwnm-sync-test--wait (lambda () (member "ert bundle" (pwnm-sync--bundle-names)))))
    (notmuch-show (notmuch-id-to-query two))
    (cl-letf (((symbol-function 'completing-read)
               (lambda (_prompt collection &rest _) (setq offered (all-completions "" collection)) "ert bundle")))
      (pwnm-sync-test--press "Y B"))
    (should (member "ert bundle" offered))
    (should (pwnm-sync-test--wait (lambda () (equal (pwnm-sync-test--bundle "ert bundle") (sort (list one two) #'string<)))))
    ;; The second patch has the bundle's tag and the family tag too.
    (should (pwnm-sync-test--wait (lambda () (member "pw-skiboot-bundle-ert_bundle" (pwnm-sync-test--tags two)))))
    (should (member "pw-skiboot-bundle" (pwnm-sync-test--tags two)))
    ;; Y D on the first: out of the bundle, its tags gone.
    (notmuch-show (notmuch-id-to-query one))
    (cl-letf (((symbol-function 'completing-read) (lambda (&rest _) "ert bundle")))
      (pwnm-sync-test--press "Y D"))
    (should (pwnm-sync-test--wait (lambda () (equal (pwnm-sync-test--bundle "ert bundle") (list two)))))
    (should (pwnm-sync-test--wait (lambda () (not (member "pw-skiboot-bundle-ert_bundle" (pwnm-sync-test--tags one))))))
    ;; In no bundle now: the family tag left too; the second patch keeps both.
    (should-not (member "pw-skiboot-bundle" (pwnm-sync-test--tags one)))
    (should (member "pw-skiboot-bundle-ert_bundle" (pwnm-sync-test--tags two)))
    (should (member "pw-skiboot-bundle" (pwnm-sync-test--tags two)))))

(ert-deftest pwnm-sync-test-t-hello-bundles ()
  "notmuch-hello shows one line per bundle of yours, with its count."
  (let ((patches (pwnm-sync-test--patches "new")))
    (pwnm-sync-test--control (format "/add-bundle?name=hello-b&msgids=%s,%s"
                                     (url-hexify-string (plist-get (nth 2 patches) :msgid))
                                     (url-hexify-string (plist-get (nth 3 patches) :msgid))))
    ;; notmuch-hello is open before the sync; the sync's own handler redraws it.
    (notmuch-hello)
    (with-current-buffer "*notmuch-hello*"
      (should-not (string-match-p "bundle hello-b" (buffer-string))))
    (pwnm-sync-test--synced)
    (should (pwnm-sync-test--wait
             (lambda () (with-current-buffer "*notmuch-hello*"
                          (string-match-p "\\b2 skiboot bundle hello-b\\b" (buffer-string))))
             30))))

;;; Issue 24's smaller items: one meaning for C-u, keys on a cover
;;; letter, saving customizations, the pending list, mode off.

(defmacro pwnm-sync-test--capturing (sent &rest body)
  "Run BODY with requests recorded in SENT as (METHOD . PARAMS), none sent."
  (declare (indent 1) (debug t))
  `(cl-letf (((symbol-function 'pwnm-sync--request)
              (lambda (method params &rest _)
                ;; Not the menu header's facts, asked in the background.
                (unless (eq (plist-get params :checks) :json-false)
                  (push (cons method params) ,sent))
                "ert-token")))
     ,@body))

(defun pwnm-sync-test--series-cover ()
  "Return the msgid of a cover letter of two patches or more, none archived.
One whose patches are all `new' when there is one left: earlier tests
change some."
  (let ((covers (seq-filter (lambda (id)
                              (let ((patches (pwnm-sync-test--thread-patches id)))
                                (and (cdr patches)
                                     (not (seq-some (lambda (m) (member "pw-skiboot-archived" (pwnm-sync-test--tags m)))
                                                    patches)))))
                            (notmuch-call-notmuch-sexp "search" "--output=messages" "--format=sexp"
                                                       "not tag:patchwork and not subject:Re"))))
    (or (seq-find (lambda (id) (pwnm-sync-test--all-new-p (pwnm-sync-test--thread-patches id))) covers)
        (car covers))))

(ert-deftest pwnm-sync-test-wa-prefix-means-series ()
  "C-u means the whole series or nothing; the other variants have their own keys.
C-u Y g is a plain sync and Y G a full one; C-u Y i asks no refresh and
Y I does; M-- Y t is the thanks dry run and C-u Y t refuses; Y ? and
the menu list them.  On a reply, Y i and Y m act on its patch."
  (pwnm-sync-test--synced)
  (let ((msgid (pwnm-sync-test--fresh-patch))
        (sent nil))
    (notmuch-show (notmuch-id-to-query msgid))
    (pwnm-sync-test--capturing sent
      ;; The answer never comes: each sync is marked ended by hand.
      (pwnm-sync-test--press "C-u Y g")
      (setq pwnm-sync--sync-running nil)
      (should (equal (car sent) '(:sync :full :json-false)))
      (pwnm-sync-test--press "Y G")
      (setq pwnm-sync--sync-running nil)
      (should (equal (car sent) '(:sync :full t)))
      (let ((current-prefix-arg '(4))) (call-interactively #'pwnm-sync))
      (setq pwnm-sync--sync-running nil)
      (should (equal (car sent) '(:sync :full :json-false)))
      (pwnm-sync-test--press "C-u Y i")
      (should (equal (car sent) `(:patchInfo :messageId ,msgid :refresh :json-false)))
      (pwnm-sync-test--press "Y I")
      (should (equal (car sent) `(:patchInfo :messageId ,msgid :refresh t)))
      (pwnm-sync-test--press "M-- Y t")
      (should (equal (seq-take (car sent) 3) '(:thanks :dryRun t)))
      (pwnm-sync-test--press "Y t")
      (should (equal (seq-take (car sent) 3) '(:thanks :dryRun :json-false)))
      (cl-letf (((symbol-function 'completing-read) (lambda (&rest _) "ert series")))
        (pwnm-sync-test--press "C-u Y B")
        (should (equal (car sent) `(:bundleAdd :name "ert series" :messageIds [,msgid] :series t)))
        (pwnm-sync-test--press "Y B")
        (should (equal (car sent) `(:bundleAdd :name "ert series" :messageIds [,msgid] :series :json-false))))
      (let ((before (length sent)))
        (should (string-match-p "C-u means the whole series"
                                (cadr (should-error (let ((current-prefix-arg '(4)))
                                                      (call-interactively #'pwnm-sync-mail-thanks))
                                                    :type 'user-error))))
        (should (= (length sent) before))))
    ;; The help and the menu name the keys.
    (let ((transient-show-popup 1))
      (when (get-buffer " *transient*") (kill-buffer " *transient*"))
      (pwnm-sync-test--press "Y ?")
      (unwind-protect
          (with-current-buffer " *transient*"
            (dolist (entry '("1 apply this patch alone" "I facts, re-read" "G full sync" "-s whole series (as C-u)"
                             "-n dry run (apply, thanks)"))
              (should (string-match-p (regexp-quote entry) (buffer-string)))))
        (condition-case nil (execute-kbd-macro (kbd "C-g")) (quit nil))))
    (dolist (key '(("1" . pwnm-sync-apply-patch) ("I" . pwnm-sync-patch-info-refresh) ("G" . pwnm-sync-full)))
      (should (eq (lookup-key pwnm-sync-state-map (car key)) (cdr key))))
    (pwnm-sync-keys)
    (with-current-buffer "*pwnm-sync keys*"
      (should (string-match-p "C-u means one thing: the whole series" (buffer-string))))
    ;; On a reply: its patch.
    (let* ((reply (car (notmuch-call-notmuch-sexp "search" "--output=messages" "--format=sexp" "not tag:patchwork and subject:Re")))
           (parent (concat (car (split-string reply "\\.reply@")) "@"))
           (patch (seq-find (lambda (m) (string-prefix-p parent m)) (pwnm-sync-test--thread-patches reply))))
      (should patch)
      (notmuch-show (notmuch-id-to-query reply))
      (goto-char (point-min))
      (notmuch-show-goto-message (notmuch-id-to-query reply))
      (pwnm-sync-test--capturing sent
        (pwnm-sync-test--press "Y i")
        (should (equal (car sent) `(:patchInfo :messageId ,patch :refresh :json-false)))
        (pwnm-sync-test--press "Y m")
        (should (equal (car sent) `(:delegate :messageIds [,patch])))
        (let ((pwnm-sync-project-repositories (list (cons "skiboot" temporary-file-directory))))
          (unwind-protect
              (progn
                (pwnm-sync-test--press "Y !")
                (should (equal (plist-get (cdar sent) :messageId) patch)))
            (setq pwnm-sync--apply-running nil))))
      ;; Y A: the patch archived, and back.
      (let ((archived-p (lambda () (eq (plist-get (pwnm-sync-test--control (concat "/patch?msgid=" (url-hexify-string patch))) :archived) t))))
        (pwnm-sync-test--press "Y A")
        (should (pwnm-sync-test--wait archived-p))
        (should-not (member "pw-skiboot-archived" (pwnm-sync-test--tags reply)))
        (pwnm-sync-test--press "Y A")
        (should (pwnm-sync-test--wait (lambda () (not (funcall archived-p)))))))))

(ert-deftest pwnm-sync-test-wb-cover-letter-keys ()
  "On a cover letter, Y Y, Y A, Y m and Y b act on its series; Y i says why not."
  (let* ((cover (pwnm-sync-test--series-cover))
         (patches (pwnm-sync-test--thread-patches cover))
         (series (plist-get (seq-find (lambda (p) (equal (plist-get p :msgid) (car patches)))
                                      (append (pwnm-sync-test--control "/patches") nil))
                            :series))
         (archived-p (lambda (m) (eq (plist-get (pwnm-sync-test--control (concat "/patch?msgid=" (url-hexify-string m))) :archived) t)))
         (prompts nil)
         (opened nil))
    (should cover)
    (should (cdr patches))
    (notmuch-show (notmuch-id-to-query cover))
    (goto-char (point-min))
    ;; Y Y: a state chosen with completion, for the series, after the question.
    (cl-letf (((symbol-function 'completing-read) (lambda (&rest _) "under-review")))
      (pwnm-sync-test--answering t prompts
        (pwnm-sync-test--press "Y Y")
        (pwnm-sync-test--idle)))
    (should (string-match-p (format "Set these %d patches to under-review" (length patches)) (car prompts)))
    (dolist (m patches)
      (should (pwnm-sync-test--wait (lambda () (equal (pwnm-sync-test--server-state m) "under-review")))))
    ;; Y A: archived, each patch, then back.
    (pwnm-sync-test--answering t prompts
      (pwnm-sync-test--press "Y A")
      (pwnm-sync-test--idle))
    (should (string-match-p (format "Archive these %d patches" (length patches)) (car prompts)))
    (dolist (m patches) (should (pwnm-sync-test--wait (lambda () (funcall archived-p m)))))
    (pwnm-sync-test--idle)
    (accept-process-output nil 0.5)
    ;; Each message of the thread shows its own tags: a retag of several
    ;; patches once put one patch's tags on the message before it.
    (save-excursion
      (notmuch-show-mapc
       (lambda ()
         (should (equal (list (notmuch-show-get-message-id t) (sort (copy-sequence (notmuch-show-get-tags)) #'string<))
                        (list (notmuch-show-get-message-id t) (sort (pwnm-sync-test--tags (notmuch-show-get-message-id t)) #'string<)))))))
    (pwnm-sync-test--answering t prompts
      (pwnm-sync-test--press "Y A")
      (pwnm-sync-test--idle))
    (should (string-match-p (format "Unarchive these %d patches" (length patches)) (car prompts)))
    (dolist (m patches) (should (pwnm-sync-test--wait (lambda () (not (funcall archived-p m))))))
    ;; Y m: every patch delegated to me.
    (pwnm-sync-test--answering t prompts
      (pwnm-sync-test--press "Y m")
      (pwnm-sync-test--idle))
    (dolist (m patches)
      (should (equal (plist-get (pwnm-sync-test--control (concat "/patch?msgid=" (url-hexify-string m))) :delegate) "maint")))
    ;; Y b: Patchwork's page of the series (its patch list filtered by it).
    (cl-letf (((symbol-function 'browse-url) (lambda (url &rest _) (setq opened url))))
      (pwnm-sync-test--press "Y b")
      (should (pwnm-sync-test--wait (lambda () opened))))
    (should (string-match-p (format "/project/skiboot/list/\\?series=%d\\'" series) opened))
    ;; Y i needs one patch, and says so.
    (should (string-match-p "a cover letter is none"
                            (cadr (should-error (call-interactively #'pwnm-sync-patch-info) :type 'user-error))))))

(ert-deftest pwnm-sync-test-wc-customize-asks ()
  "The repository asked for by Y ! is saved in the init file only after asking.
No: set for the session, nothing written.  Yes: written.  A custom
file that cannot be written: a message, no error."
  (let* ((dir (make-temp-file "pwnm-sync-test" t))
         (repo (file-name-as-directory (expand-file-name "repo" dir)))
         (user-init-file (expand-file-name "init.el" dir))
         (custom-file (expand-file-name "custom.el" dir))
         (pwnm-sync-project-repositories nil)
         (prompts nil))
    (unwind-protect
        (cl-letf (((symbol-function 'read-directory-name) (lambda (&rest _) repo)))
          (make-directory (expand-file-name ".git" repo) t)
          (pwnm-sync-test--answering nil prompts
            (should (equal (pwnm-sync--project-repository '(:project "ert-a")) repo)))
          (should (= (length prompts) 1))
          (should (string-match-p "Save pwnm-sync-project-repositories in .*custom\\.el" (car prompts)))
          (should-not (file-exists-p custom-file))
          (should (equal (cdr (assoc "ert-a" pwnm-sync-project-repositories)) repo))
          (pwnm-sync-test--answering t prompts
            (should (equal (pwnm-sync--project-repository '(:project "ert-b")) repo)))
          (should (= (length prompts) 2))
          (should (with-temp-buffer (insert-file-contents custom-file) (search-forward "ert-b" nil t)))
          (let ((custom-file (expand-file-name "no-such-dir/custom.el" dir)))
            (pwnm-sync-test--answering t prompts
              (should (equal (pwnm-sync--project-repository '(:project "ert-c")) repo)))
            (should (string-match-p "set for this session only: .*no-such-dir/custom\\.el cannot be written"
                                    (pwnm-sync-test--messages)))
            (should (equal (cdr (assoc "ert-c" pwnm-sync-project-repositories)) repo))))
      (delete-directory dir t))))

(ert-deftest pwnm-sync-test-wd-pending-marks ()
  "The pending list: subjects; d marks, u unmarks, x drops the marked after asking; g reloads."
  (let* ((news (pwnm-sync-test--patches "new"))
         (one (plist-get (nth 0 news) :msgid))
         (two (plist-get (nth 1 news) :msgid))
         (prompts nil))
    (pwnm-sync-test--while "/maintainer?on=0" "/maintainer?on=1"
      (dolist (m (list one two))
        (notmuch-tag (notmuch-id-to-query m) '("+pw-skiboot-superseded" "-pw-skiboot-new"))
        (should (pwnm-sync-test--wait (lambda () (string-match-p (concat "push skiboot " (regexp-quote m) ": refused") (pwnm-sync-test--log)))))))
    (pwnm-sync-pending)
    (with-current-buffer "*pwnm-sync pending*"
      (should (eq (key-binding "g") #'revert-buffer))
      (should (pwnm-sync-test--wait (lambda () (and (pwnm-sync-test--pending-line one) (pwnm-sync-test--pending-line two)))))
      ;; The subject, not only the Message-Id.
      (pwnm-sync-test--pending-line one)
      (should (string-match-p (regexp-quote (pwnm-sync--subject one)) (buffer-substring (line-beginning-position) (line-end-position))))
      (pwnm-sync-test--press "d")
      (pwnm-sync-test--pending-line one)
      (should (looking-at-p "D "))
      ;; Marking drops nothing.
      (pwnm-sync-test--idle)
      (revert-buffer)
      (pwnm-sync-test--idle)
      (should (pwnm-sync-test--pending-line one))
      (should (looking-at-p "D "))
      (pwnm-sync-test--press "u")
      (pwnm-sync-test--pending-line one)
      (should-not (looking-at-p "D "))
      (pwnm-sync-test--press "d")
      (pwnm-sync-test--pending-line two)
      (pwnm-sync-test--press "d")
      ;; x asks; no keeps both.
      (pwnm-sync-test--answering nil prompts (pwnm-sync-test--press "x"))
      (should (string-match-p "Forget 2 marked item" (car prompts)))
      (pwnm-sync-test--idle)
      (should (pwnm-sync-test--pending-line one))
      (pwnm-sync-test--answering t prompts (pwnm-sync-test--press "x"))
      (should (pwnm-sync-test--wait (lambda () (not (or (pwnm-sync-test--pending-line one) (pwnm-sync-test--pending-line two)))))))))

(ert-deftest pwnm-sync-test-we-mode-off-stops ()
  "Turning the mode off stops the server and the timer; tag changes push nothing."
  (pwnm-sync-test--connect)
  (let ((proc (jsonrpc--process pwnm-sync--connection))
        (msgid (pwnm-sync-test--fresh-patch)))
    (unwind-protect
        (let ((pwnm-sync-auto-sync-interval 60))
          (pwnm-sync-mode -1)
          (pwnm-sync-mode 1)
          (should pwnm-sync--timer)
          (pwnm-sync-mode -1)
          (should (pwnm-sync-test--wait (lambda () (not (process-live-p proc))) 5))
          (should-not pwnm-sync--connection)
          (should-not pwnm-sync--timer)
          (should-not (memq #'pwnm-sync--after-tag notmuch-after-tag-hook))
          (notmuch-tag (notmuch-id-to-query msgid) '("+pw-skiboot-rfc" "-pw-skiboot-new"))
          (accept-process-output nil 1)
          (should-not pwnm-sync--connection)
          (should (equal (pwnm-sync-test--server-state msgid) "new"))
          (notmuch-tag (notmuch-id-to-query msgid) '("-pw-skiboot-rfc" "+pw-skiboot-new")))
      (pwnm-sync-mode 1))))

;; Issue 24: quiet and cheap refreshes.

(defun pwnm-sync-test--series-change (state msgid)
  "Have the server set STATE on the series of MSGID; return its news count.
That is how many `pwnm/tagsChanged' notifications came; waits until
the request ended and the redraw delay passed."
  (let* ((news 0)
         (count (lambda (&rest _) (cl-incf news)))
         (pwnm-sync-confirm-several nil))
    (advice-add 'pwnm-sync--tags-changed :before count)
    (unwind-protect
        (progn
          (pwnm-sync--set-series-state state msgid)
          (pwnm-sync-test--idle)
          ;; Longer than the redraw delay, for any late redraw to happen.
          (accept-process-output nil 1.5))
      (advice-remove 'pwnm-sync--tags-changed count))
    news))

(ert-deftest pwnm-sync-test-u-hello-redraws ()
  "A series change redraws a visible hello once and a hidden one never.
The hidden one is redrawn when a window shows it again, with the new counts."
  (pwnm-sync-test--synced)
  (let* ((series (pwnm-sync-test--untouched-series))
         (redraws 0)
         (count (lambda () (cl-incf redraws))))
    (should (cdr series))
    (notmuch-hello)
    (should (get-buffer-window "*notmuch-hello*"))
    (add-hook 'notmuch-hello-refresh-hook count)
    (unwind-protect
        (progn
          ;; On screen: one redraw for the whole series.
          (should (> (pwnm-sync-test--series-change "changes-requested" (car series)) 1))
          (should (= redraws 1))
          ;; Hidden: no redraw, however many patches change.
          (switch-to-buffer "*scratch*")
          (should-not (get-buffer-window "*notmuch-hello*"))
          (setq redraws 0)
          (should (> (pwnm-sync-test--series-change "under-review" (car series)) 1))
          (should (= redraws 0))
          ;; Shown again: redrawn once, with what notmuch counts now.
          (switch-to-buffer "*notmuch-hello*")
          (pwnm-sync-test--show-windows)
          (should (pwnm-sync-test--wait (lambda () (= redraws 1)) 5))
          (accept-process-output nil 1)
          (should (= redraws 1))
          (let ((under-review (car (process-lines "notmuch" "count" "tag:pw-skiboot-under-review and not tag:pw-skiboot-archived"))))
            (should (string-match-p (format "\\b%s skiboot under-review\\b" under-review)
                                   (with-current-buffer "*notmuch-hello*" (buffer-string)))))
          (dolist (msgid series)
            (should (equal (pwnm-sync-test--server-state msgid) "under-review"))))
      (remove-hook 'notmuch-hello-refresh-hook count))))

(ert-deftest pwnm-sync-test-z-shutdown ()
  "The server stops cleanly."
  (pwnm-sync-test--connect)
  (let ((proc (jsonrpc--process pwnm-sync--connection)))
    (pwnm-sync-shutdown)
    (should (pwnm-sync-test--wait (lambda () (not (process-live-p proc)))))))

(provide 'pwnm-sync-tests)
;;; pwnm-sync-tests.el ends here
