;;; pwnm-sync-cockpit-tests.el --- ERT tests for the Y menu, facts and lists  -*- lexical-binding: t; -*-

;;; Commentary:

;; Run by test/emacs-cockpit.test.ts, which hosts the sandbox Patchwork
;; and a control endpoint (PWNM_TEST_CONTROL), and has made a notmuch
;; database (NOTMUCH_CONFIG) and a pwnm-sync config (PWNM_TEST_CONFIG).

;;; Code:

(require 'ert)
(require 'json)
(require 'url)
(require 'pwnm-sync)

(setq pwnm-sync-config-file (getenv "PWNM_TEST_CONFIG"))
(pwnm-sync-mode 1)

(defun pwnm-sync-cockpit-test--control (path)
  "GET PATH from the test's control endpoint and return the parsed JSON."
  (let ((url-show-status nil))
    (with-current-buffer (url-retrieve-synchronously (concat (getenv "PWNM_TEST_CONTROL") path) t t 10)
      (goto-char (point-min))
      (re-search-forward "\n\n")
      (prog1 (json-parse-buffer :object-type 'plist :null-object nil)
        (kill-buffer)))))

(defun pwnm-sync-cockpit-test--wait (predicate &optional seconds)
  "Process events until PREDICATE is non-nil or SECONDS (default 30) pass."
  (let ((deadline (+ (float-time) (or seconds 30))))
    (while (and (not (funcall predicate)) (< (float-time) deadline))
      (accept-process-output nil 0.05))
    (funcall predicate)))

(defun pwnm-sync-cockpit-test--synced ()
  "Run a sync and wait for it to end."
  (pwnm-sync)
  (should (pwnm-sync-cockpit-test--wait (lambda () (not pwnm-sync--sync-running)) 120)))

(defun pwnm-sync-cockpit-test--patches ()
  "Return the sandbox patches, plists with :id :msgid :state :series."
  (append (pwnm-sync-cockpit-test--control "/patches") nil))

(defun pwnm-sync-cockpit-test--state (msgid)
  "Return the Patchwork state of MSGID."
  (plist-get (seq-find (lambda (p) (equal (plist-get p :msgid) msgid)) (pwnm-sync-cockpit-test--patches)) :state))

(defun pwnm-sync-cockpit-test--series-of-new (size)
  "Return the msgids of a series of SIZE patches all `new', in order of id."
  (let ((by-series (seq-group-by (lambda (p) (plist-get p :series)) (pwnm-sync-cockpit-test--patches))))
    (cl-loop for (_ . ps) in by-series
             when (and (= (length ps) size) (seq-every-p (lambda (p) (equal (plist-get p :state) "new")) ps))
             return (mapcar (lambda (p) (plist-get p :msgid))
                            (seq-sort-by (lambda (p) (plist-get p :id)) #'< ps)))))

(defun pwnm-sync-cockpit-test--single-new ()
  "Return the msgid of a `new' patch that is a series of its own."
  (car (pwnm-sync-cockpit-test--series-of-new 1)))

(defun pwnm-sync-cockpit-test--show (msgid)
  "Show MSGID in notmuch-show, the only window."
  (notmuch-show (notmuch-id-to-query msgid))
  (delete-other-windows))

(defun pwnm-sync-cockpit-test--requests ()
  "Return how many requests the sandbox Patchwork has had."
  (plist-get (pwnm-sync-cockpit-test--control "/requests") :requests))

(ert-deftest pwnm-sync-cockpit-test-1-menu-header ()
  "Y opens the menu; its header has the state, CI verdict, series position."
  (pwnm-sync-cockpit-test--synced)
  (let* ((series (pwnm-sync-cockpit-test--series-of-new 3))
         (msgid (nth 1 series))
         (transient-show-popup t))
    (should series)
    (pwnm-sync-cockpit-test--show msgid)
    (should (eq (key-binding (kbd "Y")) #'pwnm-sync-dispatch))
    (pwnm-sync-facts-request msgid #'ignore)
    (should (pwnm-sync-cockpit-test--wait (lambda () (pwnm-sync-facts-cached-p msgid))))
    (execute-kbd-macro (kbd "Y"))
    (unwind-protect
        (let ((text (with-current-buffer " *transient*" (buffer-string))))
          (should (string-match-p "Patchwork: New · CI pending · v[0-9]+ 2/3" text))
          (should (string-match-p "a accepted" text))
          (should (string-match-p "-s whole series" text)))
      ;; C-g leaves the menu as a person does; transient then signals quit.
      (condition-case nil (execute-kbd-macro (kbd "C-g")) (quit nil))
      (should-not transient--prefix))))

(ert-deftest pwnm-sync-cockpit-test-2-fast-keys ()
  "Y a typed fast sets the state with no popup, when the popup waits."
  (pwnm-sync-cockpit-test--synced)
  (let ((msgid (pwnm-sync-cockpit-test--single-new))
        (transient-show-popup 1))
    (when (get-buffer " *transient*") (kill-buffer " *transient*"))
    (pwnm-sync-cockpit-test--show msgid)
    (execute-kbd-macro (kbd "Y a"))
    (should (pwnm-sync-cockpit-test--wait (lambda () (equal (pwnm-sync-cockpit-test--state msgid) "accepted"))))
    (should-not (get-buffer " *transient*"))))

(ert-deftest pwnm-sync-cockpit-test-3-series-switch ()
  "Y -s a accepts the whole series of the patch at point; Y a only it."
  (pwnm-sync-cockpit-test--synced)
  (let ((series (pwnm-sync-cockpit-test--series-of-new 3))
        (single (pwnm-sync-cockpit-test--series-of-new 2))
        (transient-show-popup 1))
    (should series)
    (should single)
    (pwnm-sync-cockpit-test--show (nth 1 single))
    (execute-kbd-macro (kbd "Y a"))
    (should (pwnm-sync-cockpit-test--wait (lambda () (equal (pwnm-sync-cockpit-test--state (nth 1 single)) "accepted"))))
    (should (equal (pwnm-sync-cockpit-test--state (nth 0 single)) "new"))
    (pwnm-sync-cockpit-test--show (nth 1 series))
    ;; A change of several patches asks first (issue 24); answer yes and
    ;; check that the question was about this series' three patches.
    (let ((asked nil))
      (cl-letf (((symbol-function 'y-or-n-p) (lambda (prompt) (setq asked prompt) t)))
        (execute-kbd-macro (kbd "Y - s a"))
        (should (pwnm-sync-cockpit-test--wait
                 (lambda () (seq-every-p (lambda (m) (equal (pwnm-sync-cockpit-test--state m) "accepted")) series)))))
      (should (string-match-p "Set these 3 patches to accepted" asked)))))

(ert-deftest pwnm-sync-cockpit-test-4-facts-line ()
  "A patch's facts line in show: failing CI, delegate, bundle; no Patchwork request."
  (let* ((series (pwnm-sync-cockpit-test--series-of-new 2))
         (msgid (car series)))
    (should series)
    (pwnm-sync-cockpit-test--control (concat "/check?state=fail&context=build_clang&msgid=" (url-hexify-string msgid)))
    (pwnm-sync-cockpit-test--control (concat "/delegate?msgid=" (url-hexify-string msgid)))
    (pwnm-sync-cockpit-test--control (concat "/add-bundle?name=to-test&msgids=" (url-hexify-string msgid)))
    (pwnm-sync-cockpit-test--synced)
    (should (pwnm-sync-cockpit-test--wait (lambda () (zerop (hash-table-count pwnm-sync--requests)))))
    (let ((before (pwnm-sync-cockpit-test--requests)))
      (pwnm-sync-cockpit-test--show msgid)
      (should (pwnm-sync-cockpit-test--wait
               (lambda () (save-excursion (goto-char (point-min)) (search-forward "Patchwork: " nil t)))))
      (let ((line (save-excursion (goto-char (point-min)) (search-forward "Patchwork: ")
                                  (buffer-substring-no-properties (line-beginning-position) (line-end-position)))))
        (should (string-match-p "\\`Patchwork: New · CI fail (build_clang) · v[0-9]+ 1/2 · delegated to maint · bundle: to-test · \\[web\\]\\'" line)))
      (should (= (pwnm-sync-cockpit-test--requests) before))
      ;; The line is part of the message: n and p still move between messages.
      (goto-char (point-min))
      (should (equal (notmuch-show-get-message-id t) msgid)))))

(ert-deftest pwnm-sync-cockpit-test-4b-short-tags ()
  "The ready tag formats hide patchwork and pw-PROJECT and shorten the rest."
  (let ((notmuch-tag-formats (append pwnm-sync-tag-formats notmuch-tag-formats))
        (tags '("inbox" "patchwork" "pw-skiboot" "pw-skiboot-changes-requested")))
    (notmuch-tag-clear-cache)
    (unwind-protect
        (should (equal (substring-no-properties (notmuch-tag-format-tags tags tags))
                       "inbox pw:changes-req"))
      (notmuch-tag-clear-cache))))

(defun pwnm-sync-cockpit-test--count (query)
  "Return how many messages match QUERY."
  (string-to-number (car (process-lines "notmuch" "count" query))))

(ert-deftest pwnm-sync-cockpit-test-5-hello-tells ()
  "Hello: last sync time, the pending count, counts without archived patches."
  (let ((archived (pwnm-sync-cockpit-test--single-new))
        (waiting (cadr (pwnm-sync-cockpit-test--series-of-new 2))))
    (pwnm-sync-cockpit-test--control (concat "/archive?msgid=" (url-hexify-string archived)))
    ;; Archived on Patchwork with no event: a full sync reads it.
    (pwnm-sync t)
    (should (pwnm-sync-cockpit-test--wait (lambda () (not pwnm-sync--sync-running)) 120))
    (should (member "pw-skiboot-archived" (notmuch-call-notmuch-sexp "search" "--output=tags" "--format=sexp"
                                                                     (notmuch-id-to-query archived))))
    ;; A change Patchwork refuses to take now waits: one pending item.
    (pwnm-sync-cockpit-test--control "/fault?on=1")
    (unwind-protect
        (progn
          (pwnm-sync-cockpit-test--show waiting)
          (let ((transient-show-popup 1)) (execute-kbd-macro (kbd "Y u")))
          (should (pwnm-sync-cockpit-test--wait (lambda () (zerop (hash-table-count pwnm-sync--requests))))))
      (pwnm-sync-cockpit-test--control "/fault?on=0"))
    (let ((new-all (pwnm-sync-cockpit-test--count "tag:pw-skiboot-new"))
          (notmuch-show-empty-saved-searches t))
      (notmuch-hello)
      (should (pwnm-sync-cockpit-test--wait
               (lambda () (with-current-buffer "*notmuch-hello*"
                            (string-match-p "1 pending" (buffer-string))))))
      (let ((text (with-current-buffer "*notmuch-hello*" (buffer-substring-no-properties (point-min) (point-max)))))
        (should (string-match-p (concat "Last sync: sandbox " (format-time-string "%F ") "[0-9][0-9]:[0-9][0-9]\\.  \\[1 pending\\] \\[[0-9]+ need my review\\] \\[sync now\\]")
                                text))
        ;; The archived patch is left out of "skiboot new", as on Patchwork's list.
        (should (string-match (format "\\b%d skiboot new\\b" (1- new-all)) text)))
      (let ((pwnm-sync-hello-include-archived t))
        (notmuch-hello-update)
        (should (string-match-p (format "\\b%d skiboot new\\b" new-all)
                                (with-current-buffer "*notmuch-hello*" (buffer-string))))))))

;; Issue 26: hello's "not in notmuch" count is a button that runs fill.
(ert-deftest pwnm-sync-cockpit-test-6-hello-fill-button ()
  "Hello counts a patch whose mail is not in notmuch; its button fetches it."
  (let ((msgid "lost-1@example.org"))
    (should (zerop (pwnm-sync-cockpit-test--count (notmuch-id-to-query msgid))))
    (pwnm-sync-cockpit-test--control (concat "/new-patch?msgid=" (url-hexify-string msgid)))
    (pwnm-sync)
    (should (pwnm-sync-cockpit-test--wait (lambda () (not pwnm-sync--sync-running)) 120))
    (notmuch-hello)
    (should (pwnm-sync-cockpit-test--wait
             (lambda () (with-current-buffer "*notmuch-hello*"
                          (string-match-p "\\[1 not in notmuch\\]" (buffer-string))))))
    (with-current-buffer "*notmuch-hello*"
      (goto-char (point-min))
      (search-forward "[1 not in notmuch]")
      (push-button (match-beginning 0)))
    (should (pwnm-sync-cockpit-test--wait
             (lambda () (= 1 (pwnm-sync-cockpit-test--count (concat (notmuch-id-to-query msgid) " and tag:pw-skiboot-new"))))
             60))
    ;; The count is gone from the status line once the server has it.
    (should (pwnm-sync-cockpit-test--wait
             (lambda () (with-current-buffer "*notmuch-hello*"
                          (not (string-match-p "not in notmuch" (buffer-string)))))))))

;; Issue 29: hello counts the patches that need my review; the button lists them.
(ert-deftest pwnm-sync-cockpit-test-7-hello-needs-my-review ()
  "Hello's [N need my review] matches notmuch; its button opens those patches."
  (pwnm-sync)
  (should (pwnm-sync-cockpit-test--wait (lambda () (not pwnm-sync--sync-running)) 120))
  (notmuch-hello)
  (should (pwnm-sync-cockpit-test--wait
           (lambda () (with-current-buffer "*notmuch-hello*"
                        (string-match-p "\\[[0-9]+ need my review\\]" (buffer-string))))))
  ;; The spec's query, written by hand: nothing here is delegated to someone else.
  (let ((expected (pwnm-sync-cockpit-test--count
                   "tag:pw-skiboot and (tag:pw-skiboot-new or tag:pw-skiboot-under-review) and not tag:pw-skiboot-replied")))
    (should (> expected 0))
    (with-current-buffer "*notmuch-hello*"
      (goto-char (point-min))
      (search-forward (format "[%d need my review]" expected))
      (push-button (match-beginning 0))))
  (should (pwnm-sync-cockpit-test--wait
           (lambda () (seq-find (lambda (b) (with-current-buffer b
                                              (and (derived-mode-p 'notmuch-search-mode)
                                                   (string-match-p "not tag:pw-skiboot-replied"
                                                                   notmuch-search-query-string))))
                                (buffer-list))))))

(provide 'pwnm-sync-cockpit-tests)
;;; pwnm-sync-cockpit-tests.el ends here
