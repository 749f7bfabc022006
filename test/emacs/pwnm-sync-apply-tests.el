;;; pwnm-sync-apply-tests.el --- ERT tests for Y ! (apply)  -*- lexical-binding: t; -*-

;;; Commentary:

;; Run by test/emacs-apply.test.ts, which hosts the sandbox Patchwork
;; with patches the mail generator made with git against the repository
;; PWNM_TEST_REPO, and has made a notmuch database (NOTMUCH_CONFIG) and a
;; pwnm-sync config (PWNM_TEST_CONFIG).  PWNM_TEST_SERIES_FIRST and
;; PWNM_TEST_SERIES are the first and middle patch of a 3-patch series,
;; PWNM_TEST_COVER their cover letter, PWNM_TEST_CONFLICT the first patch
;; of a series that stops at patch 2.

;;; Code:

(require 'ert)
(require 'pwnm-sync)

(setq pwnm-sync-config-file (getenv "PWNM_TEST_CONFIG"))
(pwnm-sync-mode 1)

(defconst pwnm-sync-apply-test--repo (file-name-as-directory (getenv "PWNM_TEST_REPO"))
  "The test's git repository.")

(defun pwnm-sync-apply-test--wait (predicate &optional seconds)
  "Process events until PREDICATE is non-nil or SECONDS (default 60) pass."
  (let ((deadline (+ (float-time) (or seconds 60))))
    (while (and (not (funcall predicate)) (< (float-time) deadline))
      (accept-process-output nil 0.05))
    (funcall predicate)))

(defun pwnm-sync-apply-test--git (&rest args)
  "Run git with ARGS in the test repository and return its output lines."
  (let ((default-directory pwnm-sync-apply-test--repo))
    (apply #'process-lines "git" args)))

(defun pwnm-sync-apply-test--subjects ()
  "Return the subjects of the commits on top of the base commit, oldest first."
  (reverse (pwnm-sync-apply-test--git "log" "--format=%s" "main@{0}" "--not" (getenv "PWNM_TEST_BASE"))))

(defun pwnm-sync-apply-test--press-on (msgid keys)
  "Show MSGID in notmuch-show and press KEYS there."
  (notmuch-show (notmuch-id-to-query msgid))
  (execute-kbd-macro (kbd keys)))

(defun pwnm-sync-apply-test--synced ()
  "Sync once, so that the server runs and the patch mails carry their project tags."
  (unless (and pwnm-sync--connection
               (member "pw-skiboot" (notmuch-call-notmuch-sexp "search" "--output=tags" "--format=sexp"
                                                         (notmuch-id-to-query (getenv "PWNM_TEST_SERIES")))))
    (pwnm-sync)
    (should (pwnm-sync-apply-test--wait (lambda () (not pwnm-sync--sync-running)) 120))))

(ert-deftest pwnm-sync-apply-test-1-series ()
  "Y ! on a patch applies its whole series, Y 1 the patch alone.
C-u Y ! is the series too: C-u means the series everywhere.  None
blocks Emacs; the repository is asked for once per project."
  (pwnm-sync-apply-test--synced)
  (let ((asked 0)
        (pwnm-sync-project-repositories nil))
    (cl-letf (((symbol-function 'read-directory-name)
               (lambda (&rest _) (setq asked (1+ asked)) pwnm-sync-apply-test--repo)))
      (pwnm-sync-apply-test--press-on (getenv "PWNM_TEST_SERIES_FIRST") "Y 1")
      ;; The key returned while the server still works: nothing answered yet.
      (should pwnm-sync--apply-running)
      (should (pwnm-sync-apply-test--wait (lambda () (not pwnm-sync--apply-running))))
      (should (equal (pwnm-sync-apply-test--subjects) '("util: check after step 20")))
      (should (equal (cdr (assoc "skiboot" pwnm-sync-project-repositories)) pwnm-sync-apply-test--repo))
      (pwnm-sync-apply-test--git "reset" "-q" "--hard" (getenv "PWNM_TEST_BASE"))
      (pwnm-sync-apply-test--press-on (getenv "PWNM_TEST_SERIES") "Y !")
      (should pwnm-sync--apply-running)
      (should (pwnm-sync-apply-test--wait (lambda () (not pwnm-sync--apply-running))))
      (should (equal (pwnm-sync-apply-test--subjects)
                     '("util: check after step 20" "util: report the check" "hw/dev: probe before step 5")))
      (with-current-buffer "*pwnm-sync apply*"
        (should (string-match-p "^applied 3 patches to " (buffer-string)))
        (should (string-match-p "^applied +\\[PATCH 2/3\\] util: report the check$" (buffer-string))))
      (pwnm-sync-apply-test--git "reset" "-q" "--hard" (getenv "PWNM_TEST_BASE"))
      (pwnm-sync-apply-test--press-on (getenv "PWNM_TEST_SERIES_FIRST") "C-u Y !")
      (should (pwnm-sync-apply-test--wait (lambda () (not pwnm-sync--apply-running))))
      (should (equal (pwnm-sync-apply-test--subjects)
                     '("util: check after step 20" "util: report the check" "hw/dev: probe before step 5")))
      (should (= asked 1))
      (pwnm-sync-apply-test--git "reset" "-q" "--hard" (getenv "PWNM_TEST_BASE")))))

(ert-deftest pwnm-sync-apply-test-2-conflict-opens-magit ()
  "A conflict leaves git am stopped and displays *pwnm-sync apply*, taking no window.
The answer comes while you may be typing elsewhere: the selected
window and its buffer stay; `magit-status' opens only from the
buffer's button."
  (pwnm-sync-apply-test--synced)
  (let ((opened nil)
        (pwnm-sync-project-repositories (list (cons "skiboot" pwnm-sync-apply-test--repo))))
    (cl-letf (((symbol-function 'magit-status) (lambda (&optional dir _cache) (setq opened dir))))
      (when (get-buffer "*pwnm-sync apply*")
        (delete-windows-on "*pwnm-sync apply*"))
      (pwnm-sync-apply-test--press-on (getenv "PWNM_TEST_CONFLICT") "Y !")
      ;; Where the user went on working while git am ran.
      (let ((window (selected-window))
            (buffer (switch-to-buffer (get-buffer-create "*ert typing*"))))
        (should (pwnm-sync-apply-test--wait (lambda () (not pwnm-sync--apply-running))))
        (should (eq (selected-window) window))
        (should (eq (window-buffer window) buffer))
        (should (eq (current-buffer) buffer))
        (should (get-buffer-window "*pwnm-sync apply*"))
        (should-not opened)
        ;; The button opens magit there.
        (with-current-buffer "*pwnm-sync apply*"
          (goto-char (point-min))
          (should (search-forward "[magit-status]" nil t))
          (push-button (match-beginning 0)))
        (kill-buffer buffer))
      (should (equal (file-name-as-directory opened) pwnm-sync-apply-test--repo))
      (should (file-exists-p (expand-file-name ".git/rebase-apply/applying" pwnm-sync-apply-test--repo)))
      (with-current-buffer "*pwnm-sync apply*"
        (should (string-match-p "does not apply" (buffer-string)))
        (should (string-match-p "git am --continue" (buffer-string)))))
    (pwnm-sync-apply-test--git "am" "--abort")
    (pwnm-sync-apply-test--git "reset" "-q" "--hard" (getenv "PWNM_TEST_BASE"))))

(ert-deftest pwnm-sync-apply-test-3-cover-letter ()
  "Y ! on a cover letter (no patch tags of its own) applies its series."
  (pwnm-sync-apply-test--synced)
  (let ((pwnm-sync-project-repositories (list (cons "skiboot" pwnm-sync-apply-test--repo))))
    (pwnm-sync-apply-test--press-on (getenv "PWNM_TEST_COVER") "Y !")
    (should (pwnm-sync-apply-test--wait (lambda () (not pwnm-sync--apply-running))))
    (should (equal (pwnm-sync-apply-test--subjects)
                   '("util: check after step 20" "util: report the check" "hw/dev: probe before step 5")))
    (pwnm-sync-apply-test--git "reset" "-q" "--hard" (getenv "PWNM_TEST_BASE"))))

;; `pwnm-sync-bundles' lives in its own file.
(require 'pwnm-sync-lists)

(ert-deftest pwnm-sync-apply-test-4-bundle ()
  "The bundles buffer: `a' applies a bundle in its order, `w' saves its mbox, `D' deletes it.
The sandbox holds the private bundle to-apply of the series' last patch
then its first (PWNM_TEST_BUNDLE)."
  (pwnm-sync-apply-test--synced)
  (let ((pwnm-sync-project-repositories (list (cons "skiboot" pwnm-sync-apply-test--repo)))
        (mbox (make-temp-file "pwnm-bundle" nil ".mbox")))
    (pwnm-sync-bundles)
    (with-current-buffer "*pwnm-sync bundles*"
      (should (pwnm-sync-apply-test--wait (lambda () tabulated-list-entries)))
      (goto-char (point-min))
      (should (re-search-forward "to-apply" nil t))
      (execute-kbd-macro (kbd "a"))
      (should pwnm-sync--apply-running)
      (should (pwnm-sync-apply-test--wait (lambda () (not pwnm-sync--apply-running))))
      (should (equal (pwnm-sync-apply-test--subjects)
                     '("hw/dev: probe before step 5" "util: check after step 20")))
      (cl-letf (((symbol-function 'read-file-name) (lambda (&rest _) mbox)))
        (execute-kbd-macro (kbd "w")))
      (should (pwnm-sync-apply-test--wait
               (lambda () (> (file-attribute-size (file-attributes mbox)) 0))))
      (with-temp-buffer
        (insert-file-contents mbox)
        (should (equal (let (ids)
                         (while (re-search-forward "^Message-I[dD]: <\\([^>]+\\)>" nil t)
                           (push (match-string 1) ids))
                         (nreverse ids))
                       (split-string (getenv "PWNM_TEST_BUNDLE") ","))))
      (let (asked)
        (cl-letf (((symbol-function 'y-or-n-p) (lambda (prompt) (setq asked prompt) t)))
          (execute-kbd-macro (kbd "D")))
        (should (string-match-p "Delete bundle to-apply (2 patches)" asked)))
      (should (pwnm-sync-apply-test--wait (lambda () (null tabulated-list-entries)))))
    (delete-file mbox)
    (pwnm-sync-apply-test--git "reset" "-q" "--hard" (getenv "PWNM_TEST_BASE"))))

(ert-deftest pwnm-sync-apply-test-5-thanks ()
  "Y t writes the \"applied, thanks\" draft of the accepted series and opens it.
The series was applied, accepted from git and pushed to origin/main
before (PWNM_TEST_THANKED: its commits, \"HASH SUBJECT\" per line); the
repository comes from `pwnm-sync-project-repositories'."
  (pwnm-sync-apply-test--synced)
  (let ((pwnm-sync-project-repositories (list (cons "skiboot" pwnm-sync-apply-test--repo)))
        (before (buffer-list)))
    (pwnm-sync-apply-test--press-on (getenv "PWNM_TEST_COVER") "Y t")
    (should (pwnm-sync-apply-test--wait
             (lambda () (seq-find (lambda (b) (with-current-buffer b (derived-mode-p 'message-mode)))
                                  (cl-set-difference (buffer-list) before)))))
    (with-current-buffer (seq-find (lambda (b) (with-current-buffer b (derived-mode-p 'message-mode)))
                                   (cl-set-difference (buffer-list) before))
      (should (equal (message-fetch-field "Subject") "Re: [PATCH 0/3] util-checks: series"))
      (should (equal (message-fetch-field "To") "Chloé Dévelopeur <chloe@example.fr>"))
      (should (string-match-p "This series was applied to origin/main, thanks!" (buffer-string)))
      (dolist (line (split-string (getenv "PWNM_TEST_THANKED") "\n" t))
        (let ((hash (car (split-string line " "))))
          (should (string-match-p (regexp-quote (format "https://git.example.org/skiboot/c/%s" (substring hash 0 7)))
                                  (buffer-string)))))
      (set-buffer-modified-p nil)
      (kill-buffer))))

(provide 'pwnm-sync-apply-tests)
;;; pwnm-sync-apply-tests.el ends here
