-- nothing to do in this release
SELECT 1;
