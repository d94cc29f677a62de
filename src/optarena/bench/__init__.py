"""The benchmark harness: suite -> trials -> executor -> store -> scores -> report."""
