;;; check.el --- Byte-compile, checkdoc and package-lint one elisp file  -*- lexical-binding: t; -*-

;;; Commentary:

;; emacs --batch -l test/emacs/check.el FILE
;; Exits non-zero on any warning.  One file per Emacs, so that what one
;; file loads does not change what checkdoc says of the next.  A file
;; other than pwnm-sync.el is linted as a secondary file of the package
;; (`package-lint-main-file'): its prefix is pwnm-sync too.  package-lint cannot judge offline that
;; the notmuch and jsonrpc dependencies are installable, nor act on its notice about the
;; Emacs version; those lines are filtered by message and listed.

;;; Code:

(require 'package)
;; Debian's elpa-* packages (package-lint, notmuch), also under emacs -Q.
(add-to-list 'package-directory-list "/usr/share/emacs/site-lisp/elpa")
(package-initialize)
(require 'checkdoc)
(require 'package-lint)

(defconst check-file (expand-file-name (car command-line-args-left)))
(defvar check-failures 0)

;; 1. Byte-compile with warnings as errors, into a temp file removed after.
(let* ((elc (make-temp-file "pwnm-sync" nil ".elc"))
       (byte-compile-error-on-warn t)
       (byte-compile-dest-file-function (lambda (_) elc)))
  (unwind-protect
      (unless (byte-compile-file check-file)
        (message "byte-compile: FAILED")
        (setq check-failures (1+ check-failures)))
    (delete-file elc)))

;; 2. checkdoc.
(with-current-buffer (find-file-noselect check-file)
  (let ((checkdoc-diagnostic-buffer "*checkdoc*")
        (checkdoc-autofix-flag 'never))
    (checkdoc-current-buffer t)
    (with-current-buffer (get-buffer-create "*checkdoc*")
      (let ((lines (seq-filter (lambda (l) (string-match-p "^[^*].*:[0-9]+: " l))
                               (split-string (buffer-string) "\n" t))))
        (dolist (l lines) (message "checkdoc: %s" l))
        (setq check-failures (+ check-failures (length lines)))))))

;; 3. package-lint.
(with-current-buffer (find-file-noselect check-file)
  (let* ((package-lint-main-file (unless (string= (file-name-nondirectory check-file) "pwnm-sync.el")
                                   (expand-file-name "pwnm-sync.el" (file-name-directory check-file))))
         (unjudgeable '("Package notmuch is not installable"
                        "Package jsonrpc is not installable"
                        "makes the package uninstallable in all released Emacs versions"))
         (problems (package-lint-buffer)))
    (dolist (p problems)
      (pcase-let ((`(,line ,col ,type ,text) p))
        (if (cl-some (lambda (u) (string-match-p (regexp-quote u) text)) unjudgeable)
            (message "package-lint (filtered, cannot judge offline): %d:%d: %s: %s" line col type text)
          (message "package-lint: %d:%d: %s: %s" line col type text)
          (setq check-failures (1+ check-failures)))))))

(message "check: %d problem(s) in %s" check-failures check-file)
(kill-emacs (if (zerop check-failures) 0 1))

;;; check.el ends here
