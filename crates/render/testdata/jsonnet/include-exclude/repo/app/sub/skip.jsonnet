error 'excluded files are not evaluated'
